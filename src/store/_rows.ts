// The row-level rules both engines follow, written once: which described
// table a name means, what a plugin's write or removal must hold, whose
// erasure drops a write, how stored rows are decoded (reporting damaged
// ones) and how a group's rows are carried to its new id. Each engine only
// turns them into its own SQL.

import {
  type Catalog,
  CORE_CATALOG,
  GROUPS,
  type Row,
  type TableDescription,
  tablesErasedWith,
  USERS,
} from "../base/tables.ts";
import { DamagedRecordError, type FieldCodec } from "../crypto/field_codec.ts";
import type { RecordRef } from "./audit.ts";
import type { IterateOptions, RegistrationPlan, SubjectRef } from "./store.ts";
import { writtenColumns } from "./_columns.ts";

/** The described tables of a store, by name, users and groups first. */
export class TableSet {
  /** Every described table, in the catalog's order. */
  readonly tables: readonly TableDescription[];
  #byName: Map<string, TableDescription>;

  /** The tables of `catalog` (by default users and groups only). */
  constructor(catalog: Catalog = CORE_CATALOG) {
    this.tables = catalog.tables;
    this.#byName = new Map(catalog.tables.map((table) => [table.name, table]));
  }

  /** The description of the table named `name`; `TypeError` when none is installed. */
  describe(name: string): TableDescription {
    const table = this.#byName.get(name);
    if (table === undefined) {
      throw new TypeError(
        `Table "${name}" is not described by any installed plugin`,
      );
    }
    return table;
  }

  /** The plugin tables: every described table but users and groups. */
  get pluginTables(): TableDescription[] {
    return this.tables.filter((table) => table !== USERS && table !== GROUPS);
  }

  /**
   * The tables an erasure of `kind` deletes from, each with the column
   * that holds the subject's id (null for `all`: every row).
   */
  erasedWith(
    kind: RecordRef["kind"],
  ): { table: TableDescription; column: string | null }[] {
    if (kind === "all") {
      return this.tables.map((table) => ({ table, column: null }));
    }
    return tablesErasedWith(this.tables, kind).map((table) => ({
      table,
      column: subjectColumn(table, kind)!,
    }));
  }
}

/**
 * The column of `table` holding the id of a subject of `kind`, or
 * undefined when the table holds nothing about such a subject.
 */
export function subjectColumn(
  table: TableDescription,
  kind: SubjectRef["kind"],
): string | undefined {
  return kind === "user" ? table.userColumn : table.groupColumn;
}

/** A plugin write checked, encrypted, with the records whose erasure drops it. */
export interface PreparedWrite {
  op: "write";
  table: TableDescription;
  /** The row as it is stored (encrypted columns encrypted), stamps left out. */
  row: Row;
  /** The person and the group the row is about. */
  about: SubjectRef[];
}

/** A plugin removal checked: the table and the key's values. */
export interface PreparedRemoval {
  op: "remove";
  table: TableDescription;
  key: Row;
}

/** A plan's plugin writes and removals, in plan order (removals after writes). */
export type RowOps = (PreparedWrite | PreparedRemoval)[];

/**
 * Every plan's plugin writes and removals checked and encrypted, one list
 * per plan. A write may leave out a nullable column (not a key one): it
 * is stored as null. Throws `TypeError` (before any transaction) for a
 * table not described, or a row with a column missing, unknown, stamped or
 * of the wrong type.
 */
export function prepareRowOps(
  tables: TableSet,
  codec: FieldCodec,
  plans: readonly RegistrationPlan[],
): RowOps[] {
  const checked = plans.map((plan) => ({
    writes: (plan.writes ?? []).map((write) => {
      const table = tables.describe(write.table);
      const row = withNulls(table, write.row);
      checkValues(table, row, writtenColumns(table), "a write");
      return { table, row };
    }),
    removals: (plan.removals ?? []).map((removal) => {
      const table = tables.describe(removal.table);
      checkValues(table, removal.key, table.key, "a removal");
      return { table, key: removal.key };
    }),
  }));
  return checked.map(({ writes, removals }) => [
    ...writes.map(({ table, row }): PreparedWrite => ({
      op: "write",
      table,
      row: codec.encodeRowSync(table, row),
      about: rowSubjects(table, row),
    })),
    ...removals.map(({ table, key }): PreparedRemoval => ({
      op: "remove",
      table,
      key: { ...key },
    })),
  ]);
}

// The row with every nullable column it leaves out given as null, so a
// plugin need not name a column it has nothing for.
function withNulls(table: TableDescription, row: Row): Row {
  const omitted = table.columns.filter((column) =>
    column.nullable === true && column.stamp === undefined &&
    !table.key.includes(column.name) && row[column.name] === undefined
  );
  if (omitted.length === 0) return row;
  return {
    ...row,
    ...Object.fromEntries(omitted.map((column) => [column.name, null])),
  };
}

// Exactly `columns`, each of its described type; null only where allowed.
function checkValues(
  table: TableDescription,
  values: Row,
  columns: readonly string[],
  what: string,
): void {
  const fail = (problem: string): never => {
    throw new TypeError(`${what} to table "${table.name}" ${problem}`);
  };
  for (const name of Object.keys(values)) {
    if (!columns.includes(name)) {
      const stamped = table.columns.some((c) => c.name === name && c.stamp);
      fail(
        stamped
          ? `gives column "${name}", which the store stamps itself`
          : `gives column "${name}", which the table does not have`,
      );
    }
  }
  for (const name of columns) {
    const column = table.columns.find((c) => c.name === name)!;
    const value = values[name];
    if (value === undefined) fail(`lacks column "${name}"`);
    if (value === null) {
      if (!column.nullable || table.key.includes(name)) {
        fail(`gives null for column "${name}", which may not be empty`);
      }
      continue;
    }
    const wanted = column.type === "text" ? "string" : "number";
    if (
      typeof value !== wanted ||
      (wanted === "number" && !Number.isSafeInteger(value))
    ) {
      fail(
        `gives ${JSON.stringify(value)} for column "${name}", which holds ${
          wanted === "string" ? "text" : "whole numbers"
        }`,
      );
    }
  }
}

/** The person and the group a row is about, by its subject columns. */
export function rowSubjects(table: TableDescription, row: Row): SubjectRef[] {
  const about: SubjectRef[] = [];
  if (table.userColumn !== undefined) {
    about.push({ kind: "user", id: Number(row[table.userColumn]) });
  }
  if (table.groupColumn !== undefined) {
    about.push({ kind: "group", id: Number(row[table.groupColumn]) });
  }
  return about;
}

/**
 * The erasure rule for a row a plan writes: dropped when its person or its
 * group was purged later than the plan's `sentAt` (the same second keeps
 * it). `erasedAfter` is the engine's look-up of purges.
 */
export function erasedBeforeWrite(
  about: readonly RecordRef[],
  sentAt: number | undefined,
  erasedAfter: (ref: RecordRef, sentAt: number) => boolean,
): boolean {
  return sentAt !== undefined &&
    about.some((ref) => erasedAfter(ref, sentAt));
}

/** The values of `row`'s key columns, in key order. */
export function keyValues(
  table: TableDescription,
  row: Row,
): (string | number | null)[] {
  return table.key.map((name) => row[name]!);
}

/** The values of `row` in column order, for an insert of every column. */
export function columnValues(
  table: TableDescription,
  row: Row,
): (string | number | null)[] {
  return table.columns.map((column) => row[column.name] ?? null);
}

/** The values of a stored row for its upsert: stamped columns get `now`. */
export function upsertValues(
  table: TableDescription,
  row: Row,
  now: number,
): (string | number | null)[] {
  return table.columns.map((column) =>
    column.stamp === undefined ? row[column.name]! : now
  );
}

/**
 * A decoder of stored rows of `table`: a damaged row is handed to
 * `onDamaged` and comes back undefined, for readers that go on past it;
 * without `onDamaged` its `DamagedRecordError` is thrown.
 */
export function rowDecoder(
  codec: FieldCodec,
  table: TableDescription,
  onDamaged?: IterateOptions["onDamaged"],
): (row: Row) => Row | undefined {
  if (codec.cipher === undefined) return (row) => row;
  if (onDamaged === undefined) return (row) => codec.decodeRowSync(table, row);
  return (row) => {
    try {
      return codec.decodeRowSync(table, row);
    } catch (error) {
      if (!(error instanceof DamagedRecordError)) throw error;
      onDamaged(error);
      return undefined;
    }
  };
}

/** A row of a group's table carried to its new id: the key it had, and its values under the new one. */
export interface MovedRow {
  table: TableDescription;
  /** The row's key values under the old group id. */
  from: Row;
  /** The whole row as it is stored under the new id, stamps included. */
  row: Row;
}

/**
 * The plugin rows of group `fromId` (every table with a group column but
 * `groups`) encrypted again for `toId`: the group id is part of what each
 * value is bound to. A damaged row counts as absent: it is not carried.
 * `stored` reads the stored rows of a table about the group at `fromId`.
 */
export async function movedRows(
  tables: TableSet,
  codec: FieldCodec,
  toId: number,
  stored: (table: TableDescription) => Promise<Row[]>,
): Promise<MovedRow[]> {
  const moved: MovedRow[] = [];
  for (const table of tables.pluginTables) {
    const column = table.groupColumn;
    if (column === undefined) continue;
    for (const row of await stored(table)) {
      const plain = rowDecoder(codec, table, () => {})(row);
      if (plain === undefined) continue;
      const from = Object.fromEntries(
        table.key.map((name) => [name, row[name]!]),
      );
      moved.push({
        table,
        from,
        row: codec.encodeRowSync(table, { ...plain, [column]: toId }),
      });
    }
  }
  return moved;
}

/** What a group's move carries, read and encrypted before the transaction. */
export interface PreparedMove {
  /** The group record at its new id (a supergroup); undefined when absent or damaged. */
  group: Row | undefined;
  /** Its plugin rows at the new id. */
  rows: MovedRow[];
}

/**
 * The group at the old id and its plugin rows encrypted for `toId`;
 * `stored` reads the stored rows of a table about the group at the old id.
 */
export async function prepareMove(
  tables: TableSet,
  codec: FieldCodec,
  toId: number,
  stored: (table: TableDescription) => Promise<Row[]>,
): Promise<PreparedMove> {
  const [group] = await stored(GROUPS);
  const plain = group === undefined
    ? undefined
    : rowDecoder(codec, GROUPS, () => {})(group);
  return {
    group: plain === undefined ? undefined : codec.encodeRowSync(GROUPS, {
      ...plain,
      id: toId,
      type: "supergroup",
    }),
    rows: await movedRows(tables, codec, toId, stored),
  };
}

/** A plan's user and group as their stored rows, encrypted. */
export function encodeRecords(
  codec: FieldCodec,
  plan: RegistrationPlan,
): { user?: Row; group?: Row } {
  return {
    user: plan.user === undefined ? undefined : codec.encodeRowSync(USERS, {
      ...plan.user,
      seen_on: plan.seenOn ?? null,
    } as Row),
    group: plan.group === undefined ? undefined : codec.encodeRowSync(GROUPS, {
      ...plan.group,
      seen_on: plan.seenOn ?? null,
    } as Row),
  };
}
