// The column lists both stores and both raw views read, in one place so
// that a column added by a migration is added to every reader at once.

/** The columns of `users`, in the order of `UserRecord`. */
export const USER_COLUMNS =
  "id, username, first_name, last_name, language_code, registered_at";

/** The columns of `groups`, in the order of `GroupRecord`. */
export const GROUP_COLUMNS = "id, username, title, type, registered_at";

/** The columns of `audit_log` that an entry is made of (not its id). */
export const AUDIT_COLUMNS =
  "at, actor, action, kind, subject, records, outcome";

/** Rows per page when the stores read a table by id. */
export const PAGE_SIZE = 1000;
