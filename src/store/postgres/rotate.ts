import {
  encryptedColumns,
  type Row,
  type TableDescription,
} from "../../base/tables.ts";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
import { rotationCodec } from "../_engine.ts";
import {
  columnList,
  countQuery,
  encryptedTables,
  keysetPages,
  keysetQueries,
  quote,
  recoder,
  reencodeAll,
} from "../_reencode.ts";
import type { ProgressCallback, RotateKeyOptions } from "../store.ts";
import type { Tx } from "./_driver.ts";

/** The row type json_to_recordset reads a described table's `columns` as. */
export function describedRecordset(
  table: TableDescription,
  columns: readonly string[],
): string {
  const types = new Map(
    table.columns.map((column) => [
      column.name,
      column.type === "text" ? "text" : "bigint",
    ]),
  );
  return `v(${
    columns.map((column) => `${quote(column)} ${types.get(column) ?? "text"}`)
      .join(", ")
  })`;
}

/**
 * Encrypts every row of every described table of a plaintext database and
 * stores the key check, inside the caller's transaction. Updating the rows
 * in place would leave the plaintext in the table files as dead rows, which
 * VACUUM cannot remove while any other session's snapshot might still see
 * them. So the rows are set aside in temporary tables (dropped, with their
 * files, at commit) and the tables emptied with TRUNCATE, which gives them
 * new files: the encrypted rows are written into files that never held a
 * name in clear.
 */
export async function encryptAll(
  tx: Tx,
  to: FieldCodec,
  options: {
    tables: readonly TableDescription[];
    onProgress?: ProgressCallback;
  },
): Promise<number> {
  const tables = encryptedTables(options.tables);
  if (tables.length > 0) {
    for (const [i, table] of tables.entries()) {
      await tx.unsafe(
        `CREATE TEMPORARY TABLE plain_${i} ON COMMIT DROP
         AS SELECT * FROM ${quote(table.name)}`,
      );
    }
    await tx.unsafe(
      `TRUNCATE ${tables.map((table) => quote(table.name)).join(", ")}`,
    );
  }
  const [counts] = await tx.unsafe(
    countQuery(tables.map((table, i) => ({ ...table, name: `plain_${i}` }))),
  );
  const plain = new FieldCodec();
  const written = await reencodeAll({
    tables,
    total: Number(counts!.total),
    pages: (table) =>
      keysetPages(
        keysetQueries(table, {
          source: `plain_${tables.indexOf(table)}`,
          placeholder: (i) => `$${i}`,
        }),
        (query, params) =>
          tx.unsafe(query, params) as unknown as Promise<Row[]>,
      ),
    rewrite: async (table, rows) => {
      const recode = recoder(table, {
        from: plain,
        to,
        onDamaged: undefined,
      });
      const names = table.columns.map((column) => column.name);
      await tx.unsafe(
        `INSERT INTO ${quote(table.name)} (${columnList(table)})
         SELECT * FROM json_to_recordset($1::text::json) AS ${
          describedRecordset(table, names)
        }`,
        [JSON.stringify(rows.map((row) => recode(row)!))],
      );
      return rows.length;
    },
  }, options.onProgress);
  await tx`INSERT INTO data_key_check (id, key_id, check_value)
           VALUES (1, ${to.cipher!.keyId}, ${to.keyCheckSync()})
           ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id,
             check_value = excluded.check_value`;
  return written;
}

/** What `rotatePostgres` needs of the store. */
export interface RotationSteps {
  /** The codec the store writes with now. */
  from: FieldCodec;
  /** Every described table (the catalog's). */
  tables: readonly TableDescription[];
  /** Binds the new key in one short transaction; the store writes with `to` from then on. */
  bind(to: FieldCodec): Promise<void>;
  /** Runs one short read outside any transaction, bounded like every store call. */
  read(query: string, params: (string | number | null)[]): Promise<Row[]>;
  /**
   * Runs `body` in a write transaction holding the locks a registration
   * takes on `ids` (the rows' people and groups), under the key check for
   * `codec`.
   */
  write<T>(
    codec: FieldCodec,
    ids: number[],
    body: (tx: Tx) => Promise<T>,
  ): Promise<T>;
}

/**
 * Moves the database to `next`'s key while other instances go on: the
 * binding moves first (writers elsewhere that hold the key follow it at
 * their next write), then the values under other keys are re-encrypted a
 * page at a time, each page under the locks a registration takes on the
 * rows' people and groups. Returns how many rows were written.
 */
export async function rotatePostgres(
  next: FieldCipher,
  steps: RotationSteps,
  options: RotateKeyOptions,
): Promise<number> {
  const to = rotationCodec(steps.from, next);
  await steps.bind(to);
  const tables = encryptedTables(steps.tables);
  const [counts] = await steps.read(countQuery(tables), []);
  return await reencodeAll({
    tables,
    total: Number(counts!.total),
    pages: (table) =>
      keysetPages(
        keysetQueries(table, { placeholder: (i) => `$${i}` }),
        steps.read,
      ),
    rewrite: async (table, rows) => {
      const stale = rows.filter((row) => to.needsRewrite(table, row));
      if (stale.length === 0) return 0;
      return await steps.write(to, subjectIds(table, stale), async (tx) => {
        // Read again under the locks: a registration may have written the
        // row meanwhile, already under the new key.
        const fresh = (await tx.unsafe(
          `SELECT ${columnList(table)} FROM ${quote(table.name)}
           WHERE (${table.key.map(quote).join(", ")}) IN (
             SELECT ${table.key.map(quote).join(", ")}
             FROM json_to_recordset($1::text::json) AS ${
            describedRecordset(table, table.key)
          })`,
          [JSON.stringify(stale.map((row) => keyOf(table, row)))],
        ) as unknown as Row[]).filter((row) => to.needsRewrite(table, row));
        return await rewriteRows(
          tx,
          table,
          fresh,
          recoder(table, { from: to, to, onDamaged: options.onDamaged }),
        );
      });
    },
  }, options.onProgress);
}

// The people and groups the rows are about: the ids a registration locks.
function subjectIds(table: TableDescription, rows: Row[]): number[] {
  const columns = [table.userColumn, table.groupColumn].filter((
    column,
  ): column is string => column !== undefined);
  return rows.flatMap((row) => columns.map((column) => Number(row[column])));
}

function keyOf(table: TableDescription, row: Row): Row {
  return Object.fromEntries(table.key.map((column) => [column, row[column]!]));
}

// Writes the rows' encrypted columns again, in one statement; returns how
// many were written. A damaged row is reported and left as it is.
async function rewriteRows(
  tx: Tx,
  table: TableDescription,
  rows: Row[],
  recode: (row: Row) => Row | undefined,
): Promise<number> {
  const columns = encryptedColumns(table);
  const cells = rows.flatMap((row) => {
    const values = recode(row);
    return values === undefined ? [] : [values];
  });
  if (cells.length === 0) return 0;
  const both = [...table.key, ...columns];
  await tx.unsafe(
    `UPDATE ${quote(table.name)} AS t
     SET ${
      columns.map((column) => `${quote(column)} = v.${quote(column)}`).join(
        ", ",
      )
    }
     FROM json_to_recordset($1::text::json) AS ${
      describedRecordset(table, both)
    }
     WHERE ${
      table.key.map((column) => `t.${quote(column)} = v.${quote(column)}`)
        .join(" AND ")
    }`,
    [
      JSON.stringify(
        cells.map((row) => Object.fromEntries(both.map((c) => [c, row[c]]))),
      ),
    ],
  );
  return cells.length;
}
