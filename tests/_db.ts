import { DatabaseSync } from "node:sqlite";
import type { GroupRecord, UserRecord } from "../src/store.ts";

/** Everything stored in a SQLite database file, read by a separate connection. */
export function readDb(
  path: string,
): { users: UserRecord[]; groups: GroupRecord[] } {
  const db = new DatabaseSync(path, { readOnly: true });
  const all = (sql: string) =>
    db.prepare(sql).all().map((row) => ({ ...row })) as unknown[];
  try {
    return {
      users: all("SELECT * FROM users ORDER BY id") as UserRecord[],
      groups: all("SELECT * FROM groups ORDER BY id") as GroupRecord[],
    };
  } finally {
    db.close();
  }
}

/** Runs SQL against a database file from outside the bot (as the CLI would). */
export function execDb(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec(sql);
  } finally {
    db.close();
  }
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(): Promise<
  { path: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const path = await Deno.makeTempDir({ prefix: "privacy_bot_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}
