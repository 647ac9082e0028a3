import type { ColumnType, Row, TableDescription } from "../base/tables.ts";

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
function quote(value: string | null | undefined): string {
  if (value == null) return "null";
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

type Cell = string | number | null;

/** Writes a row as text, compiled once per table for an export's hot loop. */
export type RowWriter = (row: Row) => string;

/**
 * A table's rows as JSON members (`"id":1,"username":"a",…`), in its
 * columns' order: integers as numbers, times as ISO 8601 strings, text as
 * JSON strings, exactly as `JSON.stringify` writes them.
 */
export function jsonMembers(table: TableDescription): RowWriter {
  // This runs once per row of a million-row export. A function made from
  // the description reads each column by a constant name, as hand-written
  // code would; a loop over per-column closures measured twice as slow.
  // Every name and prefix enters the code as a JSON string literal, so no
  // description can inject code.
  const terms = table.columns.map((column, index) => {
    const prefix = JSON.stringify(
      `${index === 0 ? "" : ","}${JSON.stringify(column.name)}:`,
    );
    const value = `row[${JSON.stringify(column.name)}]`;
    switch (column.type) {
      case "integer":
        return `${prefix} + (${value} == null ? "null" : ${value})`;
      case "text":
        return `${prefix} + quote(${value})`;
      case "time":
        return `${prefix} + (${value} == null ? "null" : '"' + isoTime(${value}) + '"')`;
    }
  });
  const body = `return (row) => ${terms.join(" + ")};`;
  return new Function("quote", "isoTime", body)(quote, isoTime) as RowWriter;
}

/** A table's rows as NDJSON lines: `kind` (its `record`), then its members. */
export function ndjsonLine(table: TableDescription): RowWriter {
  const members = jsonMembers(table);
  const kind = `{"kind":${quote(table.record)},`;
  return (row) => `${kind}${members(row)}}\n`;
}

/**
 * The CSV columns after `kind` for these tables: every described column
 * once, each table's in its own order. A column a table adds goes just
 * before the next of its table's columns already placed (else at the end),
 * so that users and groups alone give the long-standing header and a
 * plugin's columns only ever add to it.
 */
export function csvColumns(tables: readonly TableDescription[]): string[] {
  const placed: string[] = [];
  for (const table of tables) {
    const names = table.columns.map((column) => column.name);
    names.forEach((name, index) => {
      if (placed.includes(name)) return;
      const next = names.slice(index + 1).find((later) =>
        placed.includes(later)
      );
      placed.splice(
        next === undefined ? placed.length : placed.indexOf(next),
        0,
        name,
      );
    });
  }
  return placed;
}

/** The CSV header line (with its CRLF) for `csvColumns(tables)`. */
export function csvHeader(tables: readonly TableDescription[]): string {
  return csvLine(["kind", ...csvColumns(tables)]);
}

/** Options of `csvRow`. */
export interface CsvRowOptions {
  /** Write text cells exactly as stored, formulas included. */
  exact?: boolean;
}

/**
 * A table's rows as CSV lines (with their CRLF) under the header of
 * `columns` (from `csvColumns`): `kind` is the table's `record`, a column
 * of another table is an empty cell, a time is ISO 8601. Unless `exact`, a
 * text cell that a spreadsheet would run as a formula is neutralised (see
 * `safeCell`).
 */
export function csvRow(
  table: TableDescription,
  columns: readonly string[],
  options: CsvRowOptions = {},
): RowWriter {
  const text = options.exact ? keep : safeCell;
  const CELL: Record<ColumnType, (value: Cell) => string | null> = {
    integer: (value) => value === null ? null : `${value}`,
    text: (value) => text(value as string | null),
    time: (value) => value === null ? null : isoTime(value as number),
  };
  const own = new Map(table.columns.map((column) => [column.name, column]));
  // Per header slot: the column to read and how, or nothing.
  const slots = columns.map((name) => {
    const column = own.get(name);
    return column === undefined ? undefined : { name, cell: CELL[column.type] };
  });
  const kind = csvField(table.record);
  return (row) => {
    let out = kind;
    for (const slot of slots) {
      out += slot === undefined
        ? ","
        : `,${csvField(slot.cell(row[slot.name] ?? null))}`;
    }
    return out + "\r\n";
  };
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

const CSV_QUOTED = /[",\r\n]/;

// RFC 4180: a field with a comma, quote, CR or LF is quoted and its quotes
// doubled. Null is an empty field.
function csvField(field: string | null): string {
  return field === null
    ? ""
    : CSV_QUOTED.test(field)
    ? `"${field.replaceAll('"', '""')}"`
    : field;
}

// Lines end in CRLF.
function csvLine(fields: (string | null)[]): string {
  return fields.map(csvField).join(",") + "\r\n";
}
