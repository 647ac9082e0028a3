import type { DatabaseSync } from "node:sqlite";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
import { encryptedColumns, type TableDescription } from "../../base/tables.ts";
import { assignments } from "../_columns.ts";
import { recoder, reencodeAll, rotationCodec } from "../_engine.ts";
import { keyValues } from "../_rows.ts";
import type { ProgressCallback, RotateKeyOptions } from "../store.ts";
import { LockedError, type LockWait, rawPages, rollback } from "./_driver.ts";

/** What long work over every record is told and waits with. */
export interface LongWorkOptions extends RotateKeyOptions {
  lock: LockWait;
  onProgress?: ProgressCallback;
}

/**
 * Encrypts every plaintext record with `codec`'s key and binds the key to
 * the database, in one transaction; returns how many records were written.
 */
export function encryptAll(
  db: DatabaseSync,
  codec: FieldCodec,
  options: LongWorkOptions,
): Promise<number> {
  return reencodeInOneTransaction(db, new FieldCodec(), codec, options);
}

/**
 * Re-encrypts every record with `next` (decrypting with `from`'s keys) and
 * binds `next`'s key, in one transaction: a crash midway leaves the old key
 * valid and nothing lost. Returns the codec to write with from then on.
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

// Rewrites every record's encrypted columns from one codec to another and
// stores the new key check, in one transaction. Other processes' writers
// wait on their own timers meanwhile; their reads go on. A damaged record
// stays as it is, under its old key.
async function reencodeInOneTransaction(
  db: DatabaseSync,
  from: FieldCodec,
  to: FieldCodec,
  options: LongWorkOptions,
): Promise<number> {
  const update = (table: TableDescription) =>
    db.prepare(
      `UPDATE ${table.name} SET ${assignments(encryptedColumns(table))} WHERE ${
        table.key.map((name) => `${name} = ?`).join(" AND ")
      }`,
    );
  const { lock } = options;
  await lock.retry(() => {
    if (db.isTransaction) throw new LockedError();
    db.exec("BEGIN IMMEDIATE");
  });
  try {
    const totals = db.prepare(
      "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) AS total",
    ).get() as { total: number };
    const count = await reencodeAll({
      total: Number(totals.total),
      pages: (table) => rawPages(db, table, lock),
      rewrite: (table, rows) => {
        const recode = recoder(from, to, table, options.onDamaged);
        const statement = update(table);
        const columns = encryptedColumns(table);
        let written = 0;
        for (const row of rows) {
          const cells = recode(row);
          if (cells === undefined) continue;
          statement.run(
            ...columns.map((name) => cells[name]!),
            ...keyValues(table, row),
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
