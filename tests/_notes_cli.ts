// The CLI with the example notes plugin installed, for tests that run it as
// a subprocess: what `cli.ts` is once `plugins.ts` lists the plugin.
import { runCli } from "../cli.ts";
import { processIo } from "../src/cli/io.ts";
import { NOTES_CATALOG } from "./_notes.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, processIo(), { catalog: NOTES_CATALOG }));
}
