import { GROUPS, type Row, USERS } from "../../base/tables.ts";
import type { ErasureReason, RecordRef } from "../audit.ts";
import type {
  AuditRecord,
  RegisterResult,
  RegistrationPlan,
} from "../store.ts";
import {
  erasedBeforeWrite,
  keyValues,
  type MovedRow,
  type PreparedMove,
  type RowOps,
} from "../_rows.ts";
import type { Tx } from "./_driver.ts";
import {
  eraseRows,
  purgeTimes,
  type Queries,
  removeRows,
  type TableQueries,
  upsertRows,
} from "./_queries.ts";

/**
 * A plan with what takes a cipher or a keyed hash computed before the
 * transaction: the encrypted values, the audit subjects of the records its
 * rows are about (only when the plan has a `sentAt` to compare with a later
 * erasure), its plugin rows, and a move's rows under the new id.
 */
export interface PreparedPlan {
  plan: RegistrationPlan;
  user?: Row;
  group?: Row;
  /** The plugin writes and removals, checked and encrypted. */
  ops: RowOps;
  /** The audit subject of each record a row of the plan is about, by `kind:id`. */
  subjects: Map<string, string | null>;
  /** The group and its plugin rows at the new id, when the plan moves one. */
  move?: PreparedMove;
}

/** `kind:id`, the key of `PreparedPlan.subjects`. */
export function refKey(ref: RecordRef): string {
  return ref.kind === "all" ? "all" : `${ref.kind}:${ref.id}`;
}

/** Every record id the plans write, to be locked. */
export function planIds(prepared: readonly PreparedPlan[]): number[] {
  return prepared.flatMap(({ plan, ops }) => [
    ...(plan.user === undefined ? [] : [plan.user.id]),
    ...(plan.move === undefined ? [] : [plan.move.fromId, plan.move.toId]),
    ...(plan.group === undefined ? [] : [plan.group.id]),
    ...(plan.removeGroupId === undefined ? [] : [plan.removeGroupId]),
    ...(plan.blockedUserId === undefined ? [] : [plan.blockedUserId]),
    ...ops.flatMap((op) =>
      op.op === "write" ? op.about.map((ref) => ref.id) : []
    ),
  ]);
}

// Consecutive writes (or removals) to one table, sent as one statement: the
// last values of each key.
interface Run {
  queries: TableQueries;
  op: "write" | "remove";
  rows: Map<string, Row>;
}

/**
 * Writes the plans in order inside the caller's transaction, once `ready`
 * (the locks and the key check) resolves; statements are sent pipelined.
 * A user, group or plugin row whose person or group was purged after a
 * plan's `sentAt` is not written by it.
 */
export async function writePlans(
  tx: Tx,
  prepared: PreparedPlan[],
  options: {
    now: number;
    ready: Promise<unknown>;
    queries: Queries;
    /** Appends an audit entry inside `tx`. */
    audit: (tx: Tx, record: AuditRecord) => Promise<number>;
  },
): Promise<RegisterResult> {
  const { now, queries } = options;
  // Without moves or removals the plans' groups are independent of each
  // other's order, like the users always are: each table gets one
  // statement carrying the last values of each id.
  const ordered = prepared.some(({ plan }) =>
    plan.move !== undefined || plan.removeGroupId !== undefined ||
    plan.blockedUserId !== undefined
  );
  // Sent right behind the locks, in the same round trip.
  const [, purges] = await Promise.all([
    options.ready,
    purgeTimes(tx, prepared.flatMap((p) => [...p.subjects.values()])),
  ]);
  // Erasures this batch makes count for its later plans too.
  const erasedHere = new Map<string, number>();
  const erasedAfter =
    (subjects: Map<string, string | null>) => (ref: RecordRef, at: number) => {
      if ((erasedHere.get(refKey(ref)) ?? -Infinity) > at) return true;
      const subject = subjects.get(refKey(ref));
      return subject != null &&
        Math.max(purges.all, purges.bySubject.get(subject) ?? -Infinity) > at;
    };
  // An erasure Telegram's update caused, logged at the update's date even
  // when nothing was stored: the entry is what keeps a late update dated
  // before it from registering the record again. The counter moves either
  // way, so that every instance's cache sees it.
  const eraseByTelegram = async (
    target: RecordRef & { kind: "user" | "group" },
    reason: ErasureReason,
    at: number,
  ) => {
    flush();
    await Promise.all(pending);
    pending = [];
    const records = await eraseRows(tx, queries, target);
    await options.audit(tx, {
      actor: "telegram",
      action: "purge",
      target,
      records,
      reason,
      at,
    });
    if (records === 0) {
      await tx`UPDATE erasure_version SET version = version + 1 WHERE id = 1`;
    }
    erasedHere.set(refKey(target), at);
  };
  const erased: number[] = [];
  const users = new Map<number, Row>();
  const groups = new Map<number, Row>();
  let pending: Promise<unknown>[] = [];
  // Plugin rows go out in plan order (postgres.js sends a transaction's
  // queries in the order they are started), consecutive ones batched.
  let run: Run | undefined;
  const flush = () => {
    if (run === undefined) return;
    const rows = [...run.rows.values()];
    pending.push(
      run.op === "write"
        ? upsertRows(tx, run.queries, rows, now)
        : removeRows(tx, run.queries, rows),
    );
    run = undefined;
  };
  for (const { plan, user, group, ops, subjects, move } of prepared) {
    const isErased = erasedAfter(subjects);
    if (plan.user !== undefined && user !== undefined) {
      const ref = { kind: "user" as const, id: plan.user.id };
      if (erasedBeforeWrite([ref], plan.sentAt, isErased)) {
        erased.push(plan.user.id);
      } else {
        users.delete(plan.user.id);
        users.set(plan.user.id, user);
      }
    }
    if (plan.move !== undefined && move !== undefined) {
      // The move reads the old rows: what came before must be done.
      flush();
      await Promise.all(pending);
      pending = [];
      await moveRows(tx, queries, plan.move.fromId, move);
    }
    if (plan.group !== undefined && group !== undefined) {
      const ref = { kind: "group" as const, id: plan.group.id };
      if (erasedBeforeWrite([ref], plan.sentAt, isErased)) {
        erased.push(plan.group.id);
      } else if (ordered) {
        pending.push(upsertRows(tx, queries.of(GROUPS), [group], now));
      } else {
        groups.delete(plan.group.id);
        groups.set(plan.group.id, group);
      }
    }
    if (plan.removeGroupId !== undefined) {
      await eraseByTelegram(
        { kind: "group", id: plan.removeGroupId },
        "removed",
        plan.sentAt ?? now,
      );
    }
    if (plan.blockedUserId !== undefined) {
      // A user written earlier in this batch is written first, then erased.
      if (users.size > 0) {
        pending.push(
          upsertRows(tx, queries.of(USERS), [...users.values()], now),
        );
        users.clear();
      }
      await eraseByTelegram(
        { kind: "user", id: plan.blockedUserId },
        "blocked",
        plan.sentAt ?? now,
      );
    }
    for (const op of ops) {
      if (
        op.op === "write" && erasedBeforeWrite(op.about, plan.sentAt, isErased)
      ) {
        continue;
      }
      const queriesOf = queries.of(op.table);
      if (run?.queries !== queriesOf || run.op !== op.op) {
        flush();
        run = { queries: queriesOf, op: op.op, rows: new Map() };
      }
      const row = op.op === "write" ? op.row : op.key;
      const key = JSON.stringify(keyValues(op.table, row));
      run.rows.delete(key);
      run.rows.set(key, row);
    }
  }
  flush();
  if (users.size > 0) {
    pending.push(upsertRows(tx, queries.of(USERS), [...users.values()], now));
  }
  if (groups.size > 0) {
    pending.push(
      upsertRows(tx, queries.of(GROUPS), [...groups.values()], now),
    );
  }
  await Promise.all(pending);
  return { erased };
}

// Inside a transaction. Each old row is deleted under the lock and written
// at its new key only if it was still there: a row another process deleted
// meanwhile is not brought back. The erasure counter moves with it.
async function moveRows(
  tx: Tx,
  queries: Queries,
  fromId: number,
  move: PreparedMove,
): Promise<void> {
  // The group's own row is deleted even when it cannot be carried.
  const carried: (Omit<MovedRow, "row"> & { row?: Row })[] = [
    { table: GROUPS, from: { id: fromId }, row: move.group },
    ...move.rows,
  ];
  let deleted = 0;
  for (const table of new Set(carried.map((moved) => moved.table))) {
    const mine = carried.filter((moved) => moved.table === table);
    const tableQueries = queries.of(table);
    const gone = new Set(
      (await removeRows(tx, tableQueries, mine.map((moved) => moved.from)))
        .map((key) => JSON.stringify(keyValues(table, key))),
    );
    deleted += gone.size;
    const rows = mine.flatMap((moved) =>
      moved.row !== undefined &&
        gone.has(JSON.stringify(keyValues(table, moved.from)))
        ? [moved.row]
        : []
    );
    if (rows.length > 0) {
      await tx.unsafe(tableQueries.insertMoved, [JSON.stringify(rows)]);
    }
  }
  if (deleted > 0) {
    await tx`UPDATE erasure_version SET version = version + 1 WHERE id = 1`;
  }
}
