import assert from "node:assert/strict";
import type { RecordRef } from "./audit.ts";
import type { Store } from "./store.ts";
import { readUser, registerGroup, registerUser } from "./_seed.ts";
import { alice } from "./_fixtures.ts";

/**
 * The audit log's part of the store contract (see `storeContract`): `test`
 * runs its body on a store opened on a fresh, empty database.
 */
export function auditContract(
  test: (title: string, body: (store: Store) => Promise<void>) => void,
): void {
  test("a purge deletes and is audited; a purge of nothing is not", async (store) => {
    await registerUser(store, alice, 1);
    await registerGroup(store, {
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 1);
    assert.equal(await store.purge({ kind: "user", id: 2 }, "cli"), 0);
    assert.equal(await store.purge({ kind: "user", id: 1 }, "bot"), 1);
    assert.equal(await readUser(store, 1), undefined);
    await registerUser(store, alice, 1);
    assert.equal(await store.purge({ kind: "all" }, "cli"), 2);
    const audit = await store.recentAudit(10);
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.kind, e.records]), [
      ["cli", "purge", "all", 2],
      ["bot", "purge", "user", 1],
    ]);
    assert.equal(audit[0]!.subject, null);
    assert.deepEqual(
      (await store.auditOf({ kind: "user", id: 1 })).map((e) => e.subject),
      [audit[1]!.subject],
    );
  });

  test("audit subjects are keyed hashes: stable per record, never the id", async (store) => {
    for (const target of [{ kind: "group", id: 1 }, { kind: "user", id: 1 }]) {
      await store.recordAudit({
        actor: "bot",
        action: "export",
        target: target as RecordRef,
        records: 1,
        at: 76,
      });
    }
    const [again, group] = await store.recentAudit(2);
    const one = again!.subject;
    assert.notEqual(group!.subject, one);
    assert.match(one ?? "", /^[0-9a-f]{32}$/);
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target: { kind: "user", id: 1 },
      records: 1,
      at: 77,
    });
    assert.deepEqual(await store.recentAudit(1), [
      {
        at: 77,
        actor: "bot",
        action: "export",
        kind: "user",
        subject: one,
        records: 1,
        outcome: "done",
        reason: null,
      },
    ]);
  });

  test("an audit entry started as an export ends as done or failed", async (store) => {
    const target = { kind: "user" as const, id: 1 };
    const first = await store.recordAudit({
      actor: "cli",
      action: "export",
      target,
      records: 1,
      at: 10,
      outcome: "started",
    });
    const second = await store.recordAudit({
      actor: "cli",
      action: "export",
      target,
      records: 1,
      at: 20,
      outcome: "started",
    });
    assert.notEqual(first, second);
    await store.finishAudit(first, "failed");
    assert.deepEqual(
      (await store.auditOf(target)).map((entry) => entry.outcome),
      ["failed", "started"],
    );
    await store.finishAudit(second, "done");
    assert.deepEqual(
      (await store.recentAudit(2)).map((entry) => entry.outcome),
      ["done", "failed"],
    );
  });

  test("the last audit entry of an action is found by record and actor", async (store) => {
    const target = { kind: "user" as const, id: 1 };
    assert.equal(await store.lastAudit(target, "export", "bot"), undefined);
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target,
      records: 1,
      at: 100,
    });
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target,
      records: 1,
      at: 300,
    });
    await store.recordAudit({
      actor: "cli",
      action: "export",
      target,
      records: 1,
      at: 900,
    });
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target: { kind: "user", id: 2 },
      records: 1,
      at: 950,
    });
    assert.equal(await store.lastAudit(target, "export", "bot"), 300);
    assert.equal(await store.lastAudit(target, "export", "cli"), 900);
    assert.equal(await store.lastAudit(target, "purge", "bot"), undefined);
  });

  test("a record's audit entries are found by its id, oldest first, and no other's", async (store) => {
    const user = { kind: "user" as const, id: 1 };
    assert.deepEqual(await store.auditOf(user), []);
    const record = (
      target: RecordRef,
      action: "export" | "purge",
      at: number,
    ) => store.recordAudit({ actor: "cli", action, target, records: 1, at });
    await record(user, "purge", 500);
    await record({ kind: "user", id: 2 }, "export", 100);
    await record({ kind: "group", id: 1 }, "export", 100);
    await record({ kind: "all" }, "purge", 900);
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target: user,
      records: 1,
      at: 300,
    });
    const subject = (await store.recentAudit(1))[0]!.subject;
    assert.match(subject ?? "", /^[0-9a-f]{32}$/);
    assert.deepEqual(await store.auditOf(user), [
      {
        at: 300,
        actor: "bot",
        action: "export",
        kind: "user",
        subject,
        records: 1,
        outcome: "done",
        reason: null,
      },
      {
        at: 500,
        actor: "cli",
        action: "purge",
        kind: "user",
        subject,
        records: 1,
        outcome: "done",
        reason: "request",
      },
    ]);
    assert.deepEqual(
      (await store.auditOf({ kind: "group", id: 1 })).map((e) => e.at),
      [100],
    );
    assert.deepEqual(await store.auditOf({ kind: "group", id: 2 }), []);
    assert.deepEqual(
      (await store.auditOf({ kind: "all" })).map((e) => [e.kind, e.at]),
      [["all", 900]],
    );
  });
}
