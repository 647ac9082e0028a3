import type { GroupRecord, UserRecord } from "../store.ts";

/** The export formats of SPEC section 6. */
export const FORMATS = ["json", "ndjson", "csv"] as const;

/** One of `FORMATS`. */
export type Format = typeof FORMATS[number];

/** The version of the export document's layout. */
export const FORMAT_VERSION = 1;

/** Unix seconds as ISO 8601 UTC without fractions, e.g. `2026-11-29T14:00:00Z`. */
export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A user as exported: the stored columns with `registered_at` in ISO 8601. */
export function exportedUser(user: UserRecord): Record<string, unknown> {
  return {
    id: user.id,
    username: user.username,
    first_name: user.first_name,
    last_name: user.last_name,
    language_code: user.language_code,
    registered_at: isoTime(user.registered_at),
  };
}

/** A group as exported: the stored columns with `registered_at` in ISO 8601. */
export function exportedGroup(group: GroupRecord): Record<string, unknown> {
  return {
    id: group.id,
    username: group.username,
    title: group.title,
    type: group.type,
    registered_at: isoTime(group.registered_at),
  };
}

/** The CSV header line (with its CRLF). */
export const CSV_HEADER =
  "kind,id,username,first_name,last_name,language_code,title,type,registered_at\r\n";

/** A user as one CSV line (with its CRLF). */
export function csvUser(user: UserRecord): string {
  return csvLine([
    "user",
    String(user.id),
    user.username,
    user.first_name,
    user.last_name,
    user.language_code,
    null,
    null,
    isoTime(user.registered_at),
  ]);
}

/** A group as one CSV line (with its CRLF). */
export function csvGroup(group: GroupRecord): string {
  return csvLine([
    "group",
    String(group.id),
    group.username,
    null,
    null,
    null,
    group.title,
    group.type,
    isoTime(group.registered_at),
  ]);
}

// RFC 4180: a field with a comma, quote, CR or LF is quoted and its quotes
// doubled; lines end in CRLF. Null is an empty field.
function csvLine(fields: (string | null)[]): string {
  return fields.map((field) =>
    field === null
      ? ""
      : /[",\r\n]/.test(field)
      ? `"${field.replaceAll('"', '""')}"`
      : field
  ).join(",") + "\r\n";
}
