/**
 * Silences Node's deprecation warnings. grammY's npm build loads node-fetch,
 * whose URL library loads the deprecated `punycode` module, and Deno's Node
 * layer would print a warning about it on every start. Import this module
 * before grammY.
 */
import process from "node:process";

// Not in Node's typings, but honoured by Node and by Deno's Node layer.
(process as { noDeprecation?: boolean }).noDeprecation = true;
