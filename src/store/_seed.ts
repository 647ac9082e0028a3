// For tests: records put into a store and taken out of it the way the
// program does, through `register`, `read` and `purge`, so that a test never
// needs a store method the program does not use.

import type { Row } from "../base/tables.ts";
import { readable } from "./_engine.ts";
import type {
  GroupFields,
  PrivacyStore,
  RecordReader,
  RegistrationStore,
  UserFields,
} from "./store.ts";

/** Registers the user (inserted, or updated keeping `registered_at`). */
export async function registerUser(
  store: RegistrationStore,
  user: UserFields,
  now: number,
): Promise<void> {
  await store.register([{ user }], now);
}

/** Registers the group (inserted, or updated keeping `registered_at`). */
export async function registerGroup(
  store: RegistrationStore,
  group: GroupFields,
  now: number,
): Promise<void> {
  await store.register([{ group }], now);
}

/** The stored user with this id, decrypted, if any. */
export async function readUser(
  store: RecordReader,
  id: number,
): Promise<Row | undefined> {
  return (await store.read("users", { kind: "user", id }))[0];
}

/** The stored group with this id, decrypted, if any. */
export async function readGroup(
  store: RecordReader,
  id: number,
): Promise<Row | undefined> {
  return (await store.read("groups", { kind: "group", id }))[0];
}

/** Every row of a table, decrypted, in key order. */
export async function readAll(
  store: RecordReader,
  table: string,
): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of store.iterate(table)) rows.push(row);
  return rows;
}

/**
 * Moves a group to a new id, as an upgrade to a supergroup does; returns
 * whether a readable record was at `fromId`.
 */
export async function moveGroup(
  store: RegistrationStore & RecordReader,
  fromId: number,
  toId: number,
): Promise<boolean> {
  const there = await readable(() => readGroup(store, fromId)) !== undefined;
  await store.register([{ move: { fromId, toId } }], 0);
  return there;
}

/** Removes a group, as the bot's removal from it does; returns whether it was there. */
export async function removeGroup(
  store: RegistrationStore & RecordReader,
  id: number,
): Promise<boolean> {
  const there = await readable(() => readGroup(store, id)) !== undefined;
  await store.register([{ removeGroupId: id }], 0);
  return there;
}

/** Purges a user from the command line; returns whether one was there. */
export async function purgeUser(
  store: PrivacyStore,
  id: number,
): Promise<boolean> {
  return await store.purge({ kind: "user", id }, "cli") > 0;
}
