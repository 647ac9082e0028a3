import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../store/sqlite/open.ts";
import type { Store } from "../store/store.ts";
import { exportRecords, RecordNotFoundError, renderExport } from "./export.ts";
import type { TextSink } from "./text_sink.ts";
import { registerUser } from "../store/_seed.ts";

async function storeWith(users: number, path = ":memory:") {
  const store = await openSqliteStore(path);
  for (let id = 1; id <= users; id++) {
    await registerUser(store, {
      id,
      username: null,
      first_name: `U${id}`,
      last_name: null,
      language_code: null,
    }, 0);
  }
  return store;
}

// A sink that keeps the text and, at its first write, what the audit log held.
function watchingSink(store: Store) {
  const parts: string[] = [];
  let auditAtFirstWrite: number | undefined;
  const sink: TextSink = {
    async write(text) {
      auditAtFirstWrite ??= (await store.recentAudit(10)).length;
      parts.push(text);
    },
  };
  return { sink, parts, audited: () => auditAtFirstWrite };
}

Deno.test("the audit entry is written before the first record leaves the store", async () => {
  const store = await storeWith(3);
  const { sink, parts, audited } = watchingSink(store);
  const counts = await exportRecords(store, sink, {
    target: { kind: "all" },
    format: "ndjson",
    actor: "cli",
  });
  assert.deepEqual(counts, { users: 3, groups: 0 });
  assert.equal(audited(), 1);
  assert.equal(parts.join("").split("\n").length, 4);
  const [entry] = await store.recentAudit(1);
  assert.deepEqual(
    [entry?.actor, entry?.action, entry?.kind, entry?.records],
    ["cli", "export", "all", 3],
  );
  await store.close();
});

Deno.test("when the audit entry cannot be written, nothing reaches the sink", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bot.db`;
    const store = await storeWith(2, path);
    const db = new DatabaseSync(path);
    db.exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit log refused'); END`);
    db.close();
    const { sink, parts } = watchingSink(store);
    await assert.rejects(
      exportRecords(store, sink, {
        target: { kind: "user", id: 1 },
        format: "json",
        actor: "bot",
      }),
      /audit log refused/,
    );
    assert.deepEqual(parts, []);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a record that is not stored is a RecordNotFoundError, with no audit entry", async () => {
  const store = await storeWith(1);
  const { sink, parts } = watchingSink(store);
  await assert.rejects(
    exportRecords(store, sink, {
      target: { kind: "group", id: -9 },
      format: "json",
      actor: "cli",
    }),
    (error: unknown) =>
      error instanceof RecordNotFoundError && error.kind === "group" &&
      error.id === -9 && error.message === 'No group with id "-9" is stored',
  );
  await assert.rejects(
    renderExport(store, { kind: "user", id: 2 }),
    RecordNotFoundError,
  );
  assert.deepEqual(parts, []);
  assert.deepEqual(await store.recentAudit(10), []);
  await store.close();
});

Deno.test("a large export streams in chunks and reports its progress", async () => {
  const store = await storeWith(25_000);
  const parts: string[] = [];
  const seen: [number, number | undefined][] = [];
  await exportRecords(store, {
    write: (text) => Promise.resolve(void parts.push(text)),
  }, {
    target: { kind: "all" },
    format: "json",
    actor: "cli",
    onProgress: (done, total) => seen.push([done, total]),
  });
  const document = JSON.parse(parts.join(""));
  assert.equal(document.users.length, 25_000);
  assert.equal(document.users[24_999].first_name, "U25000");
  // Written in chunks as it streams, not as one string at the end.
  assert.ok(parts.length > 1, `only ${parts.length} writes`);
  assert.ok(seen.length >= 6, `progress was told ${seen.length} times`);
  assert.ok(seen.every(([, total]) => total === 25_000));
  assert.deepEqual(
    seen.map(([done]) => done),
    [...seen.map(([done]) => done)].sort((a, b) => a - b),
  );
  assert.deepEqual(seen.at(-1), [25_000, 25_000]);
  await store.close();
});
