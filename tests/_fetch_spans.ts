/**
 * Calls `/bot<token>/getMe` at the address in argv[0] twice: once with the
 * runtime's `fetch`, once with the bot's quiet fetch. Run with
 * `OTEL_DENO=true`, it shows what Deno exports for each.
 */
import { createQuietFetch } from "../src/runtime/quiet_fetch.ts";

const [root, token] = Deno.args;
await (await fetch(`${root}/bot${token}/getMe`, { method: "POST" })).text();
await (await createQuietFetch()(`${root}/bot${token}/getMyName`, {
  method: "POST",
})).text();
