import type { DatabaseSync } from "node:sqlite";
import type { TableDescription } from "../../base/tables.ts";
import { encryptedColumns } from "../../base/tables.ts";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
import { rotationCodec } from "../_engine.ts";
import {
  countQuery,
  encryptedTables,
  keysetPages,
  keysetQueries,
  quote,
  recoder,
  reencodeAll,
} from "../_reencode.ts";
import type { ProgressCallback, RotateKeyOptions, Row } from "../store.ts";
import { LockedError, type LockWait, rollback, settle } from "./_driver.ts";

/** What long work over every described table is told and waits with. */
export interface LongWorkOptions extends RotateKeyOptions {
  lock: LockWait;
  onProgress?: ProgressCallback;
  /** Every described table (the catalog's); those with encrypted columns are gone through. */
  tables: readonly TableDescription[];
}

/**
 * Encrypts every plaintext row of every described table with `codec`'s key
 * and binds the key to the database, in one transaction; returns how many
 * rows were written.
 */
export function encryptAll(
  db: DatabaseSync,
  codec: FieldCodec,
  options: LongWorkOptions,
): Promise<number> {
  return reencodeInOneTransaction(db, new FieldCodec(), codec, options);
}

/**
 * Re-encrypts every row of every described table with `next` (decrypting
 * with `from`'s keys) and binds `next`'s key, in one transaction: a crash
 * midway leaves the old key valid and nothing lost. Returns the codec to
 * write with from then on.
 */
export async function rotateSqlite(
  db: DatabaseSync,
  from: FieldCodec,
  next: FieldCipher,
  options: LongWorkOptions,
): Promise<{ codec: FieldCodec; records: number }> {
  const codec = rotationCodec(from, next);
  const records = await reencodeInOneTransaction(db, from, codec, options);
  return { codec, records };
}

// Rewrites every row's encrypted columns from one codec to another and
// stores the new key check, in one transaction. Other processes' writers
// wait on their own timers meanwhile; their reads go on. A damaged row
// stays as it is, under its old key.
async function reencodeInOneTransaction(
  db: DatabaseSync,
  from: FieldCodec,
  to: FieldCodec,
  options: LongWorkOptions,
): Promise<number> {
  const { lock } = options;
  const tables = encryptedTables(options.tables);
  await lock.retry(() => {
    if (db.isTransaction) throw new LockedError();
    db.exec("BEGIN IMMEDIATE");
  });
  try {
    const totals = db.prepare(countQuery(tables)).get() as { total: number };
    const count = await reencodeAll({
      tables,
      total: Number(totals.total),
      pages: (table) => {
        const queries = keysetQueries(table, { placeholder: () => "?" });
        return keysetPages(
          queries,
          (query, params) =>
            settle(() => db.prepare(query).all(...params) as unknown as Row[]),
        );
      },
      rewrite: (table, rows) => {
        const recode = recoder(table, {
          from,
          to,
          onDamaged: options.onDamaged,
        });
        const columns = encryptedColumns(table);
        const update = db.prepare(
          `UPDATE ${quote(table.name)} SET ${
            columns.map((column) => `${quote(column)} = ?`).join(", ")
          } WHERE ${
            table.key.map((column) => `${quote(column)} = ?`).join(" AND ")
          }`,
        );
        let written = 0;
        for (const row of rows) {
          const cells = recode(row);
          if (cells === undefined) continue;
          update.run(
            ...columns.map((column) => cells[column] ?? null),
            ...table.key.map((column) => row[column] ?? null),
          );
          written++;
        }
        return Promise.resolve(written);
      },
    }, options.onProgress);
    db.prepare(
      `INSERT INTO data_key_check (id, key_id, check_value) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, check_value = excluded.check_value`,
    ).run(to.cipher!.keyId, to.keyCheckSync());
    db.exec("COMMIT");
    return count;
  } catch (error) {
    rollback(db);
    throw error;
  }
}
