import assert from "node:assert/strict";
import { openSqliteStore } from "../store/sqlite_store.ts";
import { memoryIo } from "../cli/_memory_io.ts";
import { exportRecords } from "./export.ts";

async function storeWith(users: number) {
  const store = await openSqliteStore(":memory:");
  for (let id = 1; id <= users; id++) {
    await store.upsertUser({
      id,
      username: null,
      first_name: `U${id}`,
      last_name: null,
      language_code: null,
    }, 0);
  }
  return store;
}

Deno.test("a long export on a terminal shows progress on stderr", async () => {
  const store = await storeWith(25_000);
  const io = memoryIo({ stderrIsTerminal: true });
  await exportRecords(store, { target: { kind: "all" }, format: "ndjson", io });
  const err = io.err.join("");
  assert.match(
    err,
    /\rExported 10000 records…\rExported 20000 records…\nExported 25000 users and 0 groups\n$/,
  );
  assert.equal(io.out.join("").split("\n").length, 25_001);
  await store.close();
});

Deno.test("without a terminal there is no progress, only the closing line", async () => {
  const store = await storeWith(25_000);
  const io = memoryIo({ stderrIsTerminal: false });
  await exportRecords(store, { target: { kind: "all" }, format: "json", io });
  assert.deepEqual(io.err, ["Exported 25000 users and 0 groups\n"]);
  const document = JSON.parse(io.out.join(""));
  assert.equal(document.users.length, 25_000);
  // Written in chunks as it streams, not as one string at the end.
  assert.ok(io.out.length > 5, `only ${io.out.length} writes`);
  await store.close();
});
