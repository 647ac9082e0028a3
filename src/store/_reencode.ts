// Going over every encrypted value of every described table, for the first
// encryption of a plaintext database and for a key rotation, on either
// engine. Each engine passes in its own pages and writes; the rules live
// here, and the codec does the work (no table is known by name).

import {
  encryptedColumns,
  type Row,
  type TableDescription,
} from "../base/tables.ts";
import { DamagedRecordError, type FieldCodec } from "../crypto/field_codec.ts";
import { PAGE_SIZE } from "./_columns.ts";
import type { IterateOptions, ProgressCallback } from "./store.ts";

/** The described tables that have an encrypted column, in the catalog's order. */
export function encryptedTables(
  tables: readonly TableDescription[],
): TableDescription[] {
  return tables.filter((table) => encryptedColumns(table).length > 0);
}

/** An identifier quoted for both engines (a plugin may name a column `user`). */
export function quote(name: string): string {
  return `"${name}"`;
}

/** Every column of a described table, quoted, in description order. */
export function columnList(table: TableDescription): string {
  return table.columns.map((column) => quote(column.name)).join(", ");
}

/**
 * A stored row's encrypted columns decoded with `from` and encoded with
 * `to` (other columns as they are); a damaged row is handed to `onDamaged`
 * and comes back undefined, to be left as it is. Without `onDamaged` the
 * `DamagedRecordError` is thrown.
 */
export function recoder(
  table: TableDescription,
  codecs: {
    from: FieldCodec;
    to: FieldCodec;
    onDamaged: IterateOptions["onDamaged"];
  },
): (row: Row) => Row | undefined {
  const { onDamaged } = codecs;
  return (row) => {
    let plain: Row;
    try {
      plain = codecs.from.decodeRowSync(table, row);
    } catch (error) {
      if (!(error instanceof DamagedRecordError) || onDamaged === undefined) {
        throw error;
      }
      onDamaged(error);
      return undefined;
    }
    return codecs.to.encodeRowSync(table, plain);
  };
}

/** The queries of a keyset-paged read (see `keysetQueries`). */
export interface KeysetQueries {
  /** The key columns, whose last values the next page starts after. */
  key: readonly string[];
  /** The first page's query. */
  first: string;
  /** The next pages' query: the previous page's last key as parameters. */
  next: string;
}

/**
 * A keyset-paged read of `source` (a table, or a copy of one) in the order
 * of `table`'s key.
 */
export function keysetQueries(
  table: TableDescription,
  options: { source?: string; placeholder: (index: number) => string },
): KeysetQueries {
  const order = table.key.map(quote).join(", ");
  const select = `SELECT ${columnList(table)} FROM ${
    options.source ?? quote(table.name)
  }`;
  const after = table.key.map((_, i) => options.placeholder(i + 1)).join(", ");
  return {
    key: table.key,
    first: `${select} ORDER BY ${order} LIMIT ${PAGE_SIZE}`,
    next:
      `${select} WHERE (${order}) > (${after}) ORDER BY ${order} LIMIT ${PAGE_SIZE}`,
  };
}

/**
 * Pages of PAGE_SIZE rows by key, each read by `read` (one
 * short query each, so that no long read holds the database back).
 */
export async function* keysetPages(
  queries: KeysetQueries,
  read: (query: string, params: (string | number | null)[]) => Promise<Row[]>,
): AsyncIterable<Row[]> {
  let rows = await read(queries.first, []);
  for (;;) {
    if (rows.length > 0) yield rows;
    if (rows.length < PAGE_SIZE) return;
    const last = rows[rows.length - 1]!;
    rows = await read(queries.next, queries.key.map((column) => last[column]!));
  }
}

/** What `reencodeAll` needs of an engine. */
export interface ReencodeSteps {
  /** The tables to go through (those with encrypted columns). */
  tables: readonly TableDescription[];
  /** Rows in those tables, for progress. */
  total: number;
  /** Pages of stored rows of a table, in key order. */
  pages(table: TableDescription): AsyncIterable<Row[]>;
  /** Writes a page's values again; returns how many rows were written. */
  rewrite(table: TableDescription, rows: Row[]): Promise<number>;
}

/**
 * Goes through every row of every table a page at a time, in the catalog's
 * order (users and groups first), telling `onProgress` after each page;
 * returns how many rows were written.
 */
export async function reencodeAll(
  steps: ReencodeSteps,
  onProgress: ProgressCallback | undefined,
): Promise<number> {
  let done = 0;
  let written = 0;
  onProgress?.(0, steps.total);
  for (const table of steps.tables) {
    for await (const rows of steps.pages(table)) {
      written += await steps.rewrite(table, rows);
      done += rows.length;
      onProgress?.(done, steps.total);
    }
  }
  return written;
}

/** `SELECT (SELECT count(*) FROM a) + … AS total`: the rows of `tables`. */
export function countQuery(tables: readonly TableDescription[]): string {
  if (tables.length === 0) return "SELECT 0 AS total";
  return `SELECT ${
    tables.map((table) => `(SELECT count(*) FROM ${quote(table.name)})`).join(
      " + ",
    )
  } AS total`;
}
