// The column lists both stores and both raw views read and write, in one
// place so that a column added by a migration is added everywhere at once.

/** The columns of `users`, in the order of `UserRecord`. */
export const USER_FIELDS = [
  "id",
  "username",
  "first_name",
  "last_name",
  "language_code",
  "registered_at",
] as const;

/** The columns of `groups`, in the order of `GroupRecord`. */
export const GROUP_FIELDS = [
  "id",
  "username",
  "title",
  "type",
  "registered_at",
] as const;

/** The columns of `audit_log` that an entry is made of (not its id). */
export const AUDIT_FIELDS = [
  "at",
  "actor",
  "action",
  "kind",
  "subject",
  "records",
  "outcome",
] as const;

/** `USER_FIELDS` as a column list, for reads and inserts. */
export const USER_COLUMNS = USER_FIELDS.join(", ");

/** `GROUP_FIELDS` as a column list, for reads and inserts. */
export const GROUP_COLUMNS = GROUP_FIELDS.join(", ");

/** `AUDIT_FIELDS` as a column list, for reads and inserts. */
export const AUDIT_COLUMNS = AUDIT_FIELDS.join(", ");

/** The columns a registration updates on a user already stored (never `registered_at`). */
export const USER_UPDATED = [
  "username",
  "first_name",
  "last_name",
  "language_code",
];

/** The columns a registration updates on a group already stored. */
export const GROUP_UPDATED = ["username", "title", "type"];

/** The encrypted columns of `users`, in the order of `UserCells`. */
export const USER_ENCRYPTED = ["username", "first_name", "last_name"];

/** The encrypted columns of `groups`, in the order of `GroupCells`. */
export const GROUP_ENCRYPTED = ["username", "title"];

/** Every stored encrypted value as one column `v`, for counting values by key. */
export const ENCRYPTED_VALUES = [
  ...USER_ENCRYPTED.map((column) => `SELECT ${column} AS v FROM users`),
  ...GROUP_ENCRYPTED.map((column) => `SELECT ${column} AS v FROM groups`),
].join(" UNION ALL ");

/** `SET a = excluded.a, …` for an upsert of `columns`. */
export function fromExcluded(columns: readonly string[]): string {
  return columns.map((column) => `${column} = excluded.${column}`).join(", ");
}

/** `a = ?, b = ?, …`: an update of `columns` by SQLite's positional parameters. */
export function assignments(columns: readonly string[]): string {
  return columns.map((column) => `${column} = ?`).join(", ");
}

/** One `?` per column, for SQLite's positional parameters. */
export function placeholders(columns: readonly string[]): string {
  return columns.map(() => "?").join(", ");
}

/**
 * Rows per page wherever a table is read or written a page at a time (the
 * stores, the raw copies): memory stays flat at any size.
 */
export const PAGE_SIZE = 1000;
