import assert from "node:assert/strict";
import { parse as parseCsv } from "csv-parse/sync";
import { openTestStore, tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

Deno.test("a CSV export shows formula-like names as text unless --keep-formulas is given", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const store = await openTestStore(path);
  await registerUser(store, {
    id: 1,
    username: "@handle",
    first_name: '=HYPERLINK("http://x","click")',
    last_name: "+1 555",
    language_code: "en",
  }, 1);
  await registerGroup(store, {
    id: -100,
    username: null,
    title: "-2+3",
    type: "group",
  }, 1);
  await store.close();

  const run = (...extra: string[]) =>
    runCliProcess([
      "--database",
      path,
      "export",
      "--all",
      "--format",
      "csv",
      ...extra,
    ]);
  const safe = await run();
  assert.equal(safe.code, 0, safe.stderr);
  const [user, group]: Record<string, string>[] = parseCsv(safe.stdout, {
    columns: true,
  });
  assert.equal(user.username, "'@handle");
  assert.equal(user.first_name, `'=HYPERLINK("http://x","click")`);
  assert.equal(user.last_name, "'+1 555");
  assert.equal(group.id, "-100", "ids stay numbers");
  assert.equal(group.title, "'-2+3");

  const exact = await run("--keep-formulas");
  assert.equal(exact.code, 0, exact.stderr);
  const [rawUser, rawGroup]: Record<string, string>[] = parseCsv(
    exact.stdout,
    { columns: true },
  );
  assert.equal(rawUser.first_name, `=HYPERLINK("http://x","click")`);
  assert.equal(rawGroup.title, "-2+3");

  const misplaced = await runCliProcess([
    "--database",
    path,
    "export",
    "--all",
    "--keep-formulas",
  ]);
  assert.equal(misplaced.code, 2);
  assert.match(
    misplaced.stderr,
    /^error: --keep-formulas applies to --format csv only/,
  );
  assert.equal(misplaced.stdout, "");
});
