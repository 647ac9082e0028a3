import { type DamagedRecordError, rowKey } from "../crypto/field_codec.ts";
import type {
  ColumnDescription,
  Row,
  TableDescription,
} from "../base/tables.ts";
import { isoTime } from "./formats.ts";

/**
 * A stored row as aligned, human-readable lines: its kind and key as the
 * heading (`user 1001`, `note 1001,55`), then every column outside the key
 * in the description's order, empty ones as `(none)`, times as ISO 8601.
 */
export function describeRow(table: TableDescription, row: Row): string {
  return aligned(
    `${table.record} ${rowKey(table, row)}`,
    table.columns.filter((column) => !table.key.includes(column.name)).map((
      column,
    ) => [label(column.name), shownValue(column, row[column.name] ?? null)]),
  );
}

// A stored value as a person reads it: `(none)` when empty, times as ISO 8601.
function shownValue(
  column: ColumnDescription,
  value: string | number | null,
): string {
  if (value === null) return "(none)";
  return column.type === "time" ? isoTime(value as number) : String(value);
}

/**
 * A row whose stored values fail their integrity check: which fields
 * cannot be read, in place of any value.
 */
export function describeDamaged(error: DamagedRecordError): string {
  return aligned(
    `${error.kind} ${error.key}`,
    error.columns.map((column) => [
      label(column),
      "(unreadable: it fails its integrity check)",
    ]),
  );
}

// A column's name as a label: `first_name` reads `first name`.
function label(column: string): string {
  return column.replaceAll("_", " ");
}

/**
 * A heading and `label: value` rows with the values aligned. Values are
 * shown with `visible`, so a stored name cannot move the cursor, recolour
 * the screen or add lines to what the operator reads.
 */
export function aligned(heading: string, rows: [string, string][]): string {
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
