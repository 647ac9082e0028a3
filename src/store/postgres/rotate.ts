import type { FieldCipher } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
import {
  GROUP_COLUMNS,
  GROUP_ENCRYPTED,
  GROUP_FIELDS,
  USER_COLUMNS,
  USER_ENCRYPTED,
  USER_FIELDS,
} from "../_columns.ts";
import {
  type Recoded,
  recoders,
  reencodeAll,
  rotationCodec,
} from "../_engine.ts";
import type {
  GroupRecord,
  ProgressCallback,
  RotateKeyOptions,
  UserRecord,
} from "../store.ts";
import type { Tx } from "./_driver.ts";
import { keysetPages, recordset } from "./_queries.ts";

type Row = UserRecord | GroupRecord;
type Table = "users" | "groups";

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
  const recode = recoders(new FieldCodec(), to, undefined);
  const read = (query: string, after: number) =>
    tx.unsafe(query, [after]) as unknown as Promise<Row[]>;
  const written = await reencodeAll({
    total: Number(counts!.total),
    pages: (table) =>
      keysetPages(
        read,
        `plain_${table}`,
        table === "users" ? USER_COLUMNS : GROUP_COLUMNS,
      ),
    rewrite: async (table, rows) => {
      const fields = table === "users" ? USER_FIELDS : GROUP_FIELDS;
      const cells = rows.map((row) => ({
        ...row,
        ...encrypted(recode, table, row),
      }));
      await tx.unsafe(
        `INSERT INTO ${table} (${fields.join(", ")})
         SELECT * FROM json_to_recordset($1::text::json) AS ${
          recordset(fields)
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
  pages(table: Table): AsyncIterable<Row[]>;
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
  const recode = recoders(to, to, options.onDamaged);
  return await reencodeAll({
    total: await steps.count(),
    pages: (table) => steps.pages(table),
    rewrite: async (table, rows) => {
      const stale = rows.filter((row) => to.needsRewrite(table, row))
        .map((row) => row.id);
      if (stale.length === 0) return 0;
      return await steps.write(to, stale, async (tx) => {
        // Read again under the locks: a registration may have written the
        // record meanwhile, already under the new key.
        const fresh = (await tx.unsafe(
          `SELECT ${
            table === "users" ? USER_COLUMNS : GROUP_COLUMNS
          } FROM ${table} WHERE id = ANY($1::text::bigint[])`,
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
  table: Table,
  rows: Row[],
  recode: Recoded,
): Promise<number> {
  const cells = rows.flatMap((row) => {
    const values = encrypted(recode, table, row);
    return values === undefined ? [] : [{ id: row.id, ...values }];
  });
  if (cells.length === 0) return 0;
  const columns = table === "users" ? USER_ENCRYPTED : GROUP_ENCRYPTED;
  await tx.unsafe(
    `UPDATE ${table} AS t
     SET ${columns.map((column) => `${column} = v.${column}`).join(", ")}
     FROM json_to_recordset($1::text::json) AS ${recordset(["id", ...columns])}
     WHERE t.id = v.id`,
    [JSON.stringify(cells)],
  );
  return cells.length;
}

// The row's encrypted columns re-encoded, by name; undefined when damaged.
function encrypted(
  recode: Recoded,
  table: Table,
  row: Row,
): Record<string, string | null> | undefined {
  const cells = table === "users"
    ? recode.users(row as UserRecord)
    : recode.groups(row as GroupRecord);
  if (cells === undefined) return undefined;
  const columns = table === "users" ? USER_ENCRYPTED : GROUP_ENCRYPTED;
  return Object.fromEntries(columns.map((column, i) => [column, cells[i]!]));
}
