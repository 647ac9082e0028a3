import type { GroupCells, UserCells } from "../../crypto/field_codec.ts";
import { GROUP_FIELDS } from "../_columns.ts";
import type { RegisterResult, RegistrationPlan } from "../store.ts";
import type { Tx } from "./_driver.ts";
import {
  deleteRecords,
  type GroupRow,
  purgeTimes,
  upsertGroups,
  upsertUsers,
  type UserRow,
} from "./_queries.ts";

/**
 * A plan with what takes a cipher or a keyed hash computed before the
 * transaction: the encrypted values, the audit subjects (only when the plan
 * has a `sentAt` to compare with a later erasure) and a move's new values.
 */
export interface PreparedPlan {
  plan: RegistrationPlan;
  user?: { cells: UserCells; subject: string | null };
  group?: { cells: GroupCells; subject: string | null };
  move?: GroupCells;
}

/** Every record id the plans write, to be locked. */
export function planIds(plans: readonly RegistrationPlan[]): number[] {
  return plans.flatMap((plan) => [
    ...(plan.user === undefined ? [] : [plan.user.id]),
    ...(plan.move === undefined ? [] : [plan.move.fromId, plan.move.toId]),
    ...(plan.group === undefined ? [] : [plan.group.id]),
    ...(plan.removeGroupId === undefined ? [] : [plan.removeGroupId]),
  ]);
}

/**
 * Writes the plans in order inside the caller's transaction, once `ready`
 * (the locks and the key check) resolves; statements are sent pipelined.
 * A user or group purged after a plan's `sentAt` is not written by it.
 */
export async function writePlans(
  tx: Tx,
  prepared: PreparedPlan[],
  options: { now: number; ready: Promise<unknown> },
): Promise<RegisterResult> {
  const { now } = options;
  // Without moves or removals the plans' groups are independent of each
  // other's order, like the users always are: each table gets one
  // statement carrying the last values of each id.
  const ordered = prepared.some(({ plan }) =>
    plan.move !== undefined || plan.removeGroupId !== undefined
  );
  // Sent right behind the locks, in the same round trip.
  const [, purges] = await Promise.all([
    options.ready,
    purgeTimes(
      tx,
      prepared.flatMap((p) => [p.user?.subject, p.group?.subject]),
    ),
  ]);
  const erasedAfter = (subject: string | null | undefined, at?: number) =>
    at !== undefined && subject != null &&
    Math.max(purges.all, purges.bySubject.get(subject) ?? -Infinity) > at;
  const erased: number[] = [];
  const users = new Map<number, UserRow>();
  const groups = new Map<number, GroupRow>();
  let pending: Promise<unknown>[] = [];
  for (const { plan, user, group, move } of prepared) {
    if (plan.user !== undefined && user !== undefined) {
      if (erasedAfter(user.subject, plan.sentAt)) erased.push(plan.user.id);
      else {
        users.delete(plan.user.id);
        users.set(plan.user.id, {
          id: plan.user.id,
          username: user.cells[0],
          first_name: user.cells[1],
          last_name: user.cells[2],
          language_code: plan.user.language_code,
        });
      }
    }
    if (plan.move !== undefined) {
      // The move reads the old record: what came before must be done.
      await Promise.all(pending);
      pending = [];
      await moveGroup(tx, plan.move.fromId, plan.move.toId, move);
    }
    if (plan.group !== undefined && group !== undefined) {
      if (erasedAfter(group.subject, plan.sentAt)) {
        erased.push(plan.group.id);
      } else {
        const row = {
          id: plan.group.id,
          username: group.cells[0],
          title: group.cells[1],
          type: plan.group.type,
        };
        if (ordered) pending.push(upsertGroups(tx, [row], now));
        else {
          groups.delete(row.id);
          groups.set(row.id, row);
        }
      }
    }
    if (plan.removeGroupId !== undefined) {
      pending.push(deleteRecords(tx, "groups", plan.removeGroupId));
    }
  }
  if (users.size > 0) {
    pending.push(upsertUsers(tx, [...users.values()], now));
  }
  if (groups.size > 0) {
    pending.push(upsertGroups(tx, [...groups.values()], now));
  }
  await Promise.all(pending);
  return { erased };
}

// Inside a transaction. The old record is looked up again under the lock:
// if another process deleted it meanwhile, it is not brought back.
async function moveGroup(
  tx: Tx,
  fromId: number,
  toId: number,
  cells: GroupCells | undefined,
): Promise<boolean> {
  const [old] = await tx`SELECT registered_at FROM groups WHERE id = ${fromId}
                         FOR UPDATE`;
  if (old !== undefined && cells !== undefined) {
    await tx`INSERT INTO groups (${tx(GROUP_FIELDS)})
             VALUES (${toId}, ${cells[0]}, ${
      cells[1]
    }, 'supergroup', ${old.registered_at})
             ON CONFLICT (id) DO UPDATE SET
               registered_at = least(groups.registered_at, excluded.registered_at)`;
  }
  return await deleteRecords(tx, "groups", fromId) > 0;
}
