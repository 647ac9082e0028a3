import type { GroupRecord, UserRecord } from "../store/store.ts";

/** The export formats: one JSON document, JSON lines, or CSV. */
export const FORMATS = ["json", "ndjson", "csv"] as const;

/** One of `FORMATS`. */
export type Format = typeof FORMATS[number];

/** The version of the export document's layout. */
export const FORMAT_VERSION = 1;

let cachedDay = Number.NaN;
let cachedDate = "";

/** Unix seconds as ISO 8601 UTC without fractions, e.g. `2026-11-29T14:00:00Z`. */
export function isoTime(unixSeconds: number): string {
  // Exports format millions of times that mostly share a day: the calendar
  // part is computed once per day, the clock part by arithmetic.
  const seconds = Math.floor(unixSeconds);
  const day = Math.floor(seconds / 86400);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDate = new Date(day * 86_400_000).toISOString().slice(0, -13);
  }
  const time = seconds - day * 86400;
  return `${cachedDate}${two(Math.floor(time / 3600))}:${
    two(Math.floor(time / 60) % 60)
  }:${two(time % 60)}Z`;
}

function two(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

// Characters that JSON.stringify would escape: quote, backslash, controls
// and surrogates (a lone one is escaped; pairs are rare enough to pass on).
// deno-lint-ignore no-control-regex -- control characters are what it finds
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

// JSON.stringify of a string or null; most names need no escaping, and
// skipping the call for them is a measurable part of a big export.
function quote(value: string | null): string {
  if (value === null) return "null";
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * A user's fields as JSON members, in the documented order; written
 * by hand because it runs once per record of a million-record export.
 */
export function userMembers(user: UserRecord): string {
  return `"id":${user.id},"username":${quote(user.username)},"first_name":${
    quote(user.first_name)
  },"last_name":${quote(user.last_name)},"language_code":${
    quote(user.language_code)
  },"registered_at":"${isoTime(user.registered_at)}"`;
}

/** A group's fields as JSON members, in the documented order. */
export function groupMembers(group: GroupRecord): string {
  return `"id":${group.id},"username":${quote(group.username)},"title":${
    quote(group.title)
  },"type":${quote(group.type)},"registered_at":"${
    isoTime(group.registered_at)
  }"`;
}

/** The CSV header line (with its CRLF). */
export const CSV_HEADER =
  "kind,id,username,first_name,last_name,language_code,title,type,registered_at\r\n";

/**
 * A user as one CSV line (with its CRLF). Unless `exact`, a text cell that a
 * spreadsheet would run as a formula is neutralised (see `safeCell`).
 */
export function csvUser(user: UserRecord, exact = false): string {
  const text = exact ? keep : safeCell;
  return csvLine([
    "user",
    String(user.id),
    text(user.username),
    text(user.first_name),
    text(user.last_name),
    text(user.language_code),
    null,
    null,
    isoTime(user.registered_at),
  ]);
}

/** A group as one CSV line (with its CRLF); `exact` as for `csvUser`. */
export function csvGroup(group: GroupRecord, exact = false): string {
  const text = exact ? keep : safeCell;
  return csvLine([
    "group",
    String(group.id),
    text(group.username),
    null,
    null,
    null,
    text(group.title),
    group.type,
    isoTime(group.registered_at),
  ]);
}

// What spreadsheets read as the start of a formula (OWASP's list): equals,
// plus, minus, at, tab and carriage return.
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell as a spreadsheet will show it, never run it: a cell starting
 * like a formula gets a leading apostrophe, the common way to make
 * spreadsheets take it as text. Ids and dates are never touched.
 */
function safeCell(value: string | null): string | null {
  return value !== null && FORMULA_START.test(value) ? `'${value}` : value;
}

function keep(value: string | null): string | null {
  return value;
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
