import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { openTestStore, tempDir, testCipher } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { createTestDatabase, execPg, pgTest } from "./_pg.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";
import type { Store } from "../src/store/store.ts";
import type { AuditEntry } from "../src/store/audit.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

const people = [
  {
    id: 1,
    username: "ann",
    first_name: 'Ann, "the first"',
    last_name: null,
    language_code: "en",
  },
  {
    id: 8_000_000_000_123,
    username: null,
    first_name: "Zoë 🦊",
    last_name: "Line\nbreak",
    language_code: null,
  },
];
const groups = [
  { id: -5, username: null, title: "Group, five", type: "group" as const },
  {
    id: -1001234567890,
    username: "pub",
    title: "Super",
    type: "supergroup" as const,
  },
];

// Fills a store with records of both kinds and audit entries of both actions.
async function fill(store: Store): Promise<void> {
  for (const [i, user] of people.entries()) {
    await registerUser(store, user, 1_700_000_000 + i);
  }
  for (const [i, group] of groups.entries()) {
    await registerGroup(store, group, 1_700_000_100 + i);
  }
  await registerUser(store, { ...people[0]!, id: 3 }, 1_700_000_200);
  await store.purge({ kind: "user", id: 3 }, "cli");
  await store.recordAudit({
    actor: "bot",
    action: "export",
    target: { kind: "user", id: 1 },
    records: 1,
    at: 1_700_000_300,
  });
}

async function exportAll(database: string): Promise<string> {
  const result = await runCliProcess(
    ["export", "--all", "--format", "ndjson"],
    { DATABASE_URL: database },
  );
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

// The audit log as the store reads it, with the subjects (keyed hashes).
async function auditOf(store: Store): Promise<AuditEntry[]> {
  return (await store.recentAudit(100)).reverse();
}

pgTest(
  "copy moves a SQLite database to PostgreSQL and back with identical exports and audit log",
  async () => {
    await using dir = await tempDir();
    await using pg = await createTestDatabase();
    const sqlitePath = `${dir.path}/bot.db`;
    const source = await openTestStore(sqlitePath);
    await fill(source);
    const sourceAudit = await auditOf(source);
    const userEntries = await source.auditOf({ kind: "user", id: 3 });
    assert.equal(userEntries.length, 1);
    await source.close();

    const copied = await runCliProcess(["copy", "--to", pg.url], {
      DATABASE_URL: `sqlite:${sqlitePath}`,
    });
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(
      copied.stderr,
      /Copied 4 records and 2 audit entries to postgres:\/\/postgres@127\.0\.0\.1:5432\//,
    );

    // The stored values were copied as they were: the same ciphertexts.
    const raw = await execPg(
      pg,
      (sql) => sql`SELECT first_name FROM users WHERE id = 1`,
    );
    assert.match(raw[0]!.first_name as string, /^v1\./);
    const store = await openPostgresStore(pg.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    assert.deepEqual(await auditOf(store), sourceAudit);
    assert.deepEqual(
      await store.auditOf({ kind: "user", id: 3 }),
      userEntries,
      "the audit key came along: subjects still match",
    );
    await store.close();

    const fromSqlite = await exportAll(`sqlite:${sqlitePath}`);
    const fromPostgres = await exportAll(pg.url);
    assert.equal(fromPostgres, fromSqlite);
    assert.equal(fromSqlite.trim().split("\n").length, 4);

    const back = `${dir.path}/back.db`;
    const returned = await runCliProcess(["copy", "--to", `sqlite:${back}`], {
      DATABASE_URL: pg.url,
    });
    assert.equal(returned.code, 0, returned.stderr);
    assert.equal(await exportAll(`sqlite:${back}`), fromSqlite);
    const backStore = await openTestStore(back);
    // Each export above added its entry; the copies' logs end alike.
    const pgStore = await openPostgresStore(pg.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    assert.deepEqual(
      (await auditOf(backStore)).slice(0, sourceAudit.length + 1),
      (await auditOf(pgStore)).slice(0, sourceAudit.length + 1),
    );
    await pgStore.close();
    await backStore.close();
  },
);

pgTest(
  "copy refuses a target that holds records, changing nothing",
  async () => {
    await using dir = await tempDir();
    await using pg = await createTestDatabase();
    const sqlitePath = `${dir.path}/bot.db`;
    const source = await openTestStore(sqlitePath);
    await fill(source);
    await source.close();
    const target = await openPostgresStore(pg.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    await registerUser(target, { ...people[0]!, id: 42 }, 5);
    await target.close();
    const before = await execPg(
      pg,
      (sql) =>
        sql`SELECT (SELECT count(*) FROM users)::int AS users,
               (SELECT count(*) FROM audit_log)::int AS audit`,
    );

    const result = await runCliProcess(["copy", "--to", pg.url], {
      DATABASE_URL: `sqlite:${sqlitePath}`,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /target database is not empty \(1 record, 0 audit entries\)/,
    );
    assert.deepEqual(
      await execPg(
        pg,
        (sql) =>
          sql`SELECT (SELECT count(*) FROM users)::int AS users,
                 (SELECT count(*) FROM audit_log)::int AS audit`,
      ),
      before,
    );

    // Back the other way: a SQLite file with records is refused too.
    const full = `${dir.path}/full.db`;
    const other = await openTestStore(full);
    await registerUser(other, people[0]!, 1);
    await other.close();
    const reverse = await runCliProcess(["copy", "--to", `sqlite:${full}`], {
      DATABASE_URL: pg.url,
    });
    assert.equal(reverse.code, 2, reverse.stderr);
    const check = await openTestStore(full);
    assert.equal((await check.summary()).rows.users, 1);
    await check.close();
  },
);
