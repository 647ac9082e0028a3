import { type Catalog, CORE_CATALOG } from "../../base/tables.ts";
import { AUDIT_COLUMNS, AUDIT_FIELDS, PAGE_SIZE } from "../_columns.ts";
import type { Sql, Tx } from "./_driver.ts";
import { recordset } from "./_queries.ts";
import {
  carriedTables,
  type Holdings,
  orderOf,
  type RawAudit,
  type RawDatabase,
  type RawRow,
  type RawSnapshot,
  TargetNotEmptyError,
} from "../raw_copy.ts";
import { StoreError } from "../store.ts";

/**
 * The stored values behind an open pool (a `PostgresStore`'s): the tables
 * of `catalog` (default: the core's alone). Closing the result ends the
 * pool only when `owned`.
 */
export function postgresRawOn(
  sql: Sql,
  options: { owned: boolean; catalog?: Catalog },
): RawDatabase {
  return new PostgresRaw(sql, options.owned, options.catalog ?? CORE_CATALOG);
}

const INSERT_AUDIT = `INSERT INTO audit_log (${AUDIT_COLUMNS})
  SELECT ${AUDIT_COLUMNS}
  FROM json_to_recordset($1::text::json) AS ${recordset([...AUDIT_FIELDS, "n"])}
  ORDER BY n`;

class PostgresRaw implements RawDatabase {
  #sql: Sql;
  #owned: boolean;
  #catalog: Catalog;

  get catalog(): Catalog {
    return this.#catalog;
  }

  constructor(sql: Sql, owned: boolean, catalog: Catalog) {
    this.#sql = sql;
    this.#owned = owned;
    this.#catalog = catalog;
  }

  // One repeatable-read transaction: every page comes from one snapshot
  // while instances keep writing.
  async read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T> {
    return await this.#sql.begin(
      "ISOLATION LEVEL REPEATABLE READ READ ONLY",
      async (tx) => {
        const held = await holdings(tx, this.#catalog);
        const [key] = await tx`SELECT key FROM audit_key WHERE id = 1`;
        if (key === undefined) throw new StoreError("The audit key is missing");
        const [keyCheck] = await tx`SELECT key_id, check_value
                                    FROM data_key_check WHERE id = 1`;
        const [profile] = await tx`SELECT profile, saved_at
                                   FROM bot_profile WHERE id = 1`;
        return await body({
          total: held.records + held.audit,
          tables: carriedTables(this.#catalog).map((name) => ({
            name,
            pages: () => pages(tx, name, orderOf(this.#catalog, name)),
          })),
          audit: () =>
            pages(tx, "audit_log", ["id"], AUDIT_COLUMNS) as AsyncIterable<
              RawAudit[]
            >,
          auditKey: new Uint8Array(key.key as Uint8Array),
          keyCheck: keyCheck === undefined ? undefined : {
            key_id: keyCheck.key_id as string,
            check_value: keyCheck.check_value as string,
          },
          botProfile: profile === undefined ? undefined : {
            profile: profile.profile as string,
            saved_at: Number(profile.saved_at),
          },
        });
      },
    ) as T;
  }

  async holdings(): Promise<Holdings> {
    return await holdings(this.#sql, this.#catalog);
  }

  async write(
    snapshot: RawSnapshot,
    onRows: (rows: number) => void,
  ): Promise<void> {
    const carried = carriedTables(this.#catalog);
    await this.#sql.begin(async (tx) => {
      // Nothing else writes the target while it fills: a bot started on it
      // meanwhile waits, then finds the copied rows.
      await tx.unsafe(
        `LOCK TABLE ${
          [...carried, "audit_log"].map((name) => `"${name}"`).join(", ")
        } IN EXCLUSIVE MODE`,
      );
      const held = await holdings(tx, this.#catalog);
      if (held.records + held.audit > 0) throw new TargetNotEmptyError(held);
      for (const table of snapshot.tables) {
        for await (const rows of table.pages()) {
          await insertRows(tx, table.name, rows);
          onRows(rows.length);
        }
      }
      for await (const rows of snapshot.audit()) {
        // Numbered, so that the new ids keep the log's order.
        const numbered = rows.map((row, n) => ({ ...row, n }));
        await tx.unsafe(INSERT_AUDIT, [JSON.stringify(numbered)]);
        onRows(rows.length);
      }
      await tx`UPDATE audit_key SET key = decode(${
        hex(snapshot.auditKey)
      }, 'hex') WHERE id = 1`;
      await tx`DELETE FROM data_key_check`;
      if (snapshot.keyCheck !== undefined) {
        await tx`INSERT INTO data_key_check (id, key_id, check_value)
                 VALUES (1, ${snapshot.keyCheck.key_id}, ${snapshot.keyCheck.check_value})`;
      }
      await tx`DELETE FROM bot_profile`;
      if (snapshot.botProfile !== undefined) {
        await tx`INSERT INTO bot_profile (id, profile, saved_at)
                 VALUES (1, ${snapshot.botProfile.profile}, ${snapshot.botProfile.saved_at})`;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#sql.end({ timeout: 5 });
  }
}

// Inserts a page of rows as they are, column for column, in one statement:
// the JSON is read as the target table's own row type, so every column
// keeps its type without being listed here.
async function insertRows(tx: Tx, table: string, rows: RawRow[]) {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!).map((column) => `"${column}"`)
    .join(", ");
  await tx.unsafe(
    `INSERT INTO "${table}" (${columns})
     SELECT ${columns} FROM json_populate_recordset(NULL::"${table}", $1::text::json)`,
    [JSON.stringify(rows, (_, value) => jsonValue(value))],
  );
}

// Bytes (a plugin's bookkeeping may hold some) as PostgreSQL reads bytea
// from text; every other value as JSON has it.
function jsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return `\\x${hex(value)}`;
  if (
    value !== null && typeof value === "object" &&
    (value as { type?: unknown }).type === "Buffer" &&
    Array.isArray((value as { data?: unknown }).data)
  ) {
    return `\\x${hex(new Uint8Array((value as { data: number[] }).data))}`;
  }
  return value;
}

async function holdings(sql: Sql | Tx, catalog: Catalog): Promise<Holdings> {
  const counts = carriedTables(catalog).map((name) =>
    `(SELECT count(*) FROM "${name}")`
  );
  const [row] = await sql.unsafe(
    `SELECT ${counts.join(" + ")} AS records,
            (SELECT count(*) FROM audit_log) AS audit`,
  );
  return { records: Number(row!.records), audit: Number(row!.audit) };
}

// Pages through a server-side cursor inside the snapshot's transaction.
async function* pages(
  tx: Tx,
  table: string,
  order: string[],
  columns = "*",
): AsyncIterable<RawRow[]> {
  const orderBy = order.length === 0
    ? ""
    : ` ORDER BY ${order.map((column) => `"${column}"`).join(", ")}`;
  for await (
    const rows of tx.unsafe(`SELECT ${columns} FROM "${table}"${orderBy}`)
      .cursor(PAGE_SIZE)
  ) {
    yield rows.map((row) => ({ ...row }));
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}
