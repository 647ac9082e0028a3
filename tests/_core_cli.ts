// The CLI with the project's own plugins only, whatever `plugins.ts`
// installs: for tests about the core's own output (its export format, its
// counts), which a plugin installed by a project must not change.
import { runCli } from "../cli.ts";
import { processIo } from "../src/cli/io.ts";
import { CORE_CATALOG } from "../src/base/tables.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, processIo(), { catalog: CORE_CATALOG }));
}
