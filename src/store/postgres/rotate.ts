import type { FieldCipher } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
import {
  encryptedColumns,
  type Row,
  type TableDescription,
} from "../../base/tables.ts";
import { columnNames } from "../_columns.ts";
import { recoder, reencodeAll, rotationCodec } from "../_engine.ts";
import type { ProgressCallback, RotateKeyOptions } from "../store.ts";
import type { Tx } from "./_driver.ts";
import { keysetPages, tableRecordset } from "./_queries.ts";

type Recode = (row: Row) => Row | undefined;

/**
 * Encrypts every record of a plaintext database and stores the key check,
 * inside the caller's transaction. Updating the rows in place would leave
 * the plaintext in the table files as dead rows, which VACUUM cannot remove
 * while any other session's snapshot might still see them. So the rows are
 * set aside in temporary tables (dropped, with their files, at commit) and
 * the tables emptied with TRUNCATE, which gives them new files: the
 * encrypted rows are written into files that never held a name in clear.
 */
export async function encryptAll(
  tx: Tx,
  to: FieldCodec,
  onProgress?: ProgressCallback,
): Promise<number> {
  await tx`CREATE TEMPORARY TABLE plain_users ON COMMIT DROP
           AS SELECT * FROM users`;
  await tx`CREATE TEMPORARY TABLE plain_groups ON COMMIT DROP
           AS SELECT * FROM groups`;
  await tx`TRUNCATE users, groups`;
  const [counts] = await tx`SELECT (SELECT count(*) FROM plain_users) +
                                   (SELECT count(*) FROM plain_groups) AS total`;
  const read = (query: string, after: unknown[]) =>
    tx.unsafe(query, after as (string | number)[]) as unknown as Promise<
      Row[]
    >;
  const written = await reencodeAll({
    total: Number(counts!.total),
    pages: (table) => keysetPages(read, table, `plain_${table.name}`),
    rewrite: async (table, rows) => {
      const recode = recoder(new FieldCodec(), to, table, undefined);
      const fields = columnNames(table);
      const cells = rows.map((row) => recode(row) ?? row);
      await tx.unsafe(
        `INSERT INTO ${table.name} (${fields.join(", ")})
         SELECT * FROM json_to_recordset($1::text::json) AS ${
          tableRecordset(table, fields)
        }`,
        [JSON.stringify(cells)],
      );
      return rows.length;
    },
  }, onProgress);
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
  /** Binds the new key in one short transaction; the store writes with `to` from then on. */
  bind(to: FieldCodec): Promise<void>;
  /** Records in both tables. */
  count(): Promise<number>;
  /** Pages of stored rows by id, each read by a short bounded query. */
  pages(table: TableDescription): AsyncIterable<Row[]>;
  /**
   * Runs `body` in a write transaction holding the locks a registration
   * takes on `ids`, under the key check for `codec`.
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
 * page at a time, each page under the record locks a registration takes.
 * Returns how many records were written.
 */
export async function rotatePostgres(
  next: FieldCipher,
  steps: RotationSteps,
  options: RotateKeyOptions,
): Promise<number> {
  const to = rotationCodec(steps.from, next);
  await steps.bind(to);
  return await reencodeAll({
    total: await steps.count(),
    pages: (table) => steps.pages(table),
    rewrite: async (table, rows) => {
      const recode = recoder(to, to, table, options.onDamaged);
      const stale = rows.filter((row) => to.needsRewrite(table, row))
        .map((row) => Number(row.id));
      if (stale.length === 0) return 0;
      return await steps.write(to, stale, async (tx) => {
        // Read again under the locks: a registration may have written the
        // record meanwhile, already under the new key.
        const fresh = (await tx.unsafe(
          `SELECT ${
            columnNames(table).join(", ")
          } FROM ${table.name} WHERE id = ANY($1::text::bigint[])`,
          [`{${stale.join(",")}}`],
        ) as unknown as Row[]).filter((row) => to.needsRewrite(table, row));
        return await rewriteRows(tx, table, fresh, recode);
      });
    },
  }, options.onProgress);
}

// Writes the rows' encrypted columns again, in one statement; returns how
// many were written. A damaged record is reported and left as it is.
async function rewriteRows(
  tx: Tx,
  table: TableDescription,
  rows: Row[],
  recode: Recode,
): Promise<number> {
  const columns = encryptedColumns(table);
  const cells = rows.flatMap((row) => {
    const values = recode(row);
    return values === undefined ? [] : [
      Object.fromEntries(
        ["id", ...columns].map((column) => [column, values[column]]),
      ),
    ];
  });
  if (cells.length === 0) return 0;
  await tx.unsafe(
    `UPDATE ${table.name} AS t
     SET ${columns.map((column) => `${column} = v.${column}`).join(", ")}
     FROM json_to_recordset($1::text::json) AS ${
      tableRecordset(table, ["id", ...columns])
    }
     WHERE t.id = v.id`,
    [JSON.stringify(cells)],
  );
  return cells.length;
}
