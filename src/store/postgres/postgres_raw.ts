import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  GROUP_COLUMNS,
  GROUP_FIELDS,
  PAGE_SIZE,
  USER_COLUMNS,
  USER_FIELDS,
} from "../_columns.ts";
import type { Sql, Tx } from "./_driver.ts";
import { recordset } from "./_queries.ts";
import {
  type RawAudit,
  type RawDatabase,
  type RawGroup,
  type RawSnapshot,
  type RawUser,
  TargetNotEmptyError,
} from "../raw_copy.ts";
import { StoreError } from "../store.ts";

/**
 * The stored values behind an open pool (a `PostgresStore`'s); closing the
 * result ends the pool only when `owned`.
 */
export function postgresRawOn(
  sql: Sql,
  options: { owned: boolean },
): RawDatabase {
  return new PostgresRaw(sql, options.owned);
}

const INSERT_USERS = `INSERT INTO users (${USER_COLUMNS})
  SELECT * FROM json_to_recordset($1::text::json) AS ${recordset(USER_FIELDS)}`;

const INSERT_GROUPS = `INSERT INTO groups (${GROUP_COLUMNS})
  SELECT * FROM json_to_recordset($1::text::json) AS ${
  recordset(GROUP_FIELDS)
}`;

const INSERT_AUDIT = `INSERT INTO audit_log (${AUDIT_COLUMNS})
  SELECT ${AUDIT_COLUMNS}
  FROM json_to_recordset($1::text::json) AS ${recordset([...AUDIT_FIELDS, "n"])}
  ORDER BY n`;

class PostgresRaw implements RawDatabase {
  #sql: Sql;
  #owned: boolean;

  constructor(sql: Sql, owned: boolean) {
    this.#sql = sql;
    this.#owned = owned;
  }

  // One repeatable-read transaction: every page comes from one snapshot
  // while instances keep writing.
  async read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T> {
    return await this.#sql.begin(
      "ISOLATION LEVEL REPEATABLE READ READ ONLY",
      async (tx) => {
        const [counts] = await tx`
          SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) +
                 (SELECT count(*) FROM audit_log) AS total`;
        const [key] = await tx`SELECT key FROM audit_key WHERE id = 1`;
        if (key === undefined) throw new StoreError("The audit key is missing");
        const [keyCheck] = await tx`SELECT key_id, check_value
                                    FROM data_key_check WHERE id = 1`;
        const [profile] = await tx`SELECT profile, saved_at
                                   FROM bot_profile WHERE id = 1`;
        return await body({
          total: Number(counts!.total),
          users: () => pages<RawUser>(tx, "users", USER_COLUMNS, "id"),
          groups: () => pages<RawGroup>(tx, "groups", GROUP_COLUMNS, "id"),
          audit: () => pages<RawAudit>(tx, "audit_log", AUDIT_COLUMNS, "id"),
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

  async holdings(): Promise<{ records: number; audit: number }> {
    return await holdings(this.#sql);
  }

  async write(
    snapshot: RawSnapshot,
    onRows: (rows: number) => void,
  ): Promise<void> {
    await this.#sql.begin(async (tx) => {
      // Nothing else writes the target while it fills: a bot started on it
      // meanwhile waits, then finds the copied records.
      await tx`LOCK TABLE users, groups, audit_log IN EXCLUSIVE MODE`;
      const held = await holdings(tx);
      if (held.records + held.audit > 0) throw new TargetNotEmptyError(held);
      for await (const rows of snapshot.users()) {
        await tx.unsafe(INSERT_USERS, [json(rows)]);
        onRows(rows.length);
      }
      for await (const rows of snapshot.groups()) {
        await tx.unsafe(INSERT_GROUPS, [json(rows)]);
        onRows(rows.length);
      }
      for await (const rows of snapshot.audit()) {
        // Numbered, so that the new ids keep the log's order.
        const numbered = rows.map((row, n) => ({ ...row, n }));
        await tx.unsafe(INSERT_AUDIT, [json(numbered)]);
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

async function holdings(
  sql: Sql | Tx,
): Promise<{ records: number; audit: number }> {
  const [row] = await sql`
    SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) AS records,
           (SELECT count(*) FROM audit_log) AS audit`;
  return { records: Number(row!.records), audit: Number(row!.audit) };
}

// Pages through a server-side cursor inside the snapshot's transaction.
async function* pages<T>(
  tx: Tx,
  table: string,
  columns: string,
  order: string,
): AsyncIterable<T[]> {
  for await (
    const rows of tx.unsafe(
      `SELECT ${columns} FROM ${table} ORDER BY ${order}`,
    ).cursor(PAGE_SIZE)
  ) {
    yield rows.map((row) => ({ ...row }) as T);
  }
}

function json(rows: unknown[]): string {
  return JSON.stringify(rows);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}
