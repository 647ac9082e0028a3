import type { DamagedRecordError } from "../crypto/field_codec.ts";
import type { GroupRecord, UserRecord } from "../store/store.ts";
import { isoTime } from "./formats.ts";

/** A user record as aligned, human-readable lines. */
export function describeUser(user: UserRecord): string {
  return table(`user ${user.id}`, [
    ["username", user.username === null ? "(none)" : `@${user.username}`],
    ["first name", user.first_name],
    ["last name", user.last_name ?? "(none)"],
    ["language code", user.language_code ?? "(none)"],
    ["registered at", isoTime(user.registered_at)],
  ]);
}

/** A group record as aligned, human-readable lines. */
export function describeGroup(group: GroupRecord): string {
  return table(`group ${group.id}`, [
    ["title", group.title],
    ["username", group.username === null ? "(none)" : `@${group.username}`],
    ["type", group.type],
    ["registered at", isoTime(group.registered_at)],
  ]);
}

/**
 * A record whose stored values fail their integrity check: which fields
 * cannot be read, in place of any value.
 */
export function describeDamaged(error: DamagedRecordError): string {
  return table(
    `${error.kind} ${error.id}`,
    error.columns.map((column) => [
      column.replace("_", " "),
      "(unreadable: it fails its integrity check)",
    ]),
  );
}

/**
 * A heading and `label: value` rows with the values aligned. Values are
 * shown with `visible`, so a stored name cannot move the cursor, recolour
 * the screen or add lines to what the operator reads.
 */
export function table(heading: string, rows: [string, string][]): string {
  // Two spaces after the longest label's colon.
  const width = Math.max(...rows.map(([label]) => label.length)) + 3;
  return [
    heading,
    ...rows.map(([label, value]) =>
      `  ${`${label}:`.padEnd(width)}${visible(value)}`
    ),
  ]
    .join("\n") + "\n";
}

// Controls (C0, DEL, C1), line and paragraph separators, and the marks that
// reorder text (bidirectional embeddings, overrides and isolates).
const INVISIBLE =
  // deno-lint-ignore no-control-regex -- control characters are what it finds
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]/g;

/**
 * A stored value as a terminal can show it safely: characters that would
 * act on the terminal or reorder the line are written as `\u{…}` escapes.
 * Everything else, emoji and accents included, is shown as it is.
 */
function visible(value: string): string {
  return value.replace(
    INVISIBLE,
    (char) => `\\u{${char.codePointAt(0)!.toString(16).padStart(4, "0")}}`,
  );
}
