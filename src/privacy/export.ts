/**
 * Privacy requests as data: exports in every format (this file and
 * `formats.ts`) and readable descriptions of records, shared by the CLI and
 * the bot's own privacy commands. Above the store, below the bot. Every
 * table is reached through its description, so a plugin's tables are
 * exported exactly as users and groups are.
 *
 * @module
 */
import type { Actor, RecordRef } from "../store/audit.ts";
import type {
  IterateOptions,
  PrivacyStore,
  Row,
  TableDescription,
} from "../store/store.ts";
import { GROUPS, tablesAbout, USERS } from "../base/tables.ts";
import {
  csvColumns,
  csvHeader,
  csvRow,
  type Format,
  FORMAT_VERSION,
  isoTime,
  jsonMembers,
  ndjsonLine,
  type RowWriter,
} from "./formats.ts";
import { BufferedSink, type TextSink } from "./text_sink.ts";

/** No row about the requested user or group is stored in any table. */
export class RecordNotFoundError extends Error {
  /** Which kind of record was asked for. */
  readonly kind: "user" | "group";
  /** The id that was asked for. */
  readonly id: number;

  /** Names the record in the message. */
  constructor(kind: "user" | "group", id: number) {
    super(`No ${kind} with id "${id}" is stored`);
    this.name = "RecordNotFoundError";
    this.kind = kind;
    this.id = id;
  }
}

/**
 * How many rows of each table were written, by table name: `users` and
 * `groups` always, then each other table the export covered.
 */
export type ExportCounts = Record<string, number>;

/** One table's part of an export: its description and its rows. */
export interface ExportPart {
  table: TableDescription;
  rows: AsyncIterable<Row> | Iterable<Row>;
}

/**
 * The rows one export will write, looked up before anything is written,
 * so that a missing record fails before the audit log or the output is
 * touched.
 */
export interface ExportSelection {
  target: RecordRef;
  /** How many rows are stored for the target now (for the audit log and progress). */
  expected: number;
  /** Every table the export covers, users and groups first, in the catalog's order. */
  parts: ExportPart[];
  /** Every installed table: the CSV header is the same for every export of one installation. */
  tables: readonly TableDescription[];
}

/** Options of `writeExport`. */
export interface WriteExportOptions {
  format: Format;
  /** CSV only: write cells exactly as stored, formulas included. */
  csvExact?: boolean;
  /** Export time, Unix seconds. */
  exportedAt: number;
  /** Told every few thousand rows, and once at the end. */
  onProgress?: (done: number, total?: number) => void;
}

/** Options of `exportRecords`. */
export interface ExportOptions {
  target: RecordRef;
  format: Format;
  /** CSV only: write cells exactly as stored, formulas included. */
  csvExact?: boolean;
  /** Who asks, for the audit log. */
  actor: Actor;
  /** Export time, Unix seconds; defaults to now. */
  now?: number;
  /** Told as rows are written, with the total when known. */
  onProgress?: (done: number, total?: number) => void;
  /**
   * Told of each damaged row of an `all` export, which is then left out
   * while the rest is written; without it such a row ends the export.
   */
  onDamaged?: IterateOptions["onDamaged"];
}

/**
 * The tables an export of `target` covers: for a person, every table with
 * their id (users, their rows of member tables); for a group, every table
 * of the group's own (not its members' rows: those are other people's
 * data); for `all`, every table. Users and groups are always there (empty
 * when not covered), so the JSON document keeps its two first keys.
 */
export function exportedTables(
  tables: readonly TableDescription[],
  kind: RecordRef["kind"],
): TableDescription[] {
  if (kind === "all") return [...tables];
  const covered = new Set(tablesAbout(tables, kind));
  return tables.filter((table) =>
    table.name === USERS.name || table.name === GROUPS.name ||
    covered.has(table)
  );
}

/**
 * Looks up what an export of `target` will write. A single person or group
 * must have a row in some table (`RecordNotFoundError` otherwise); `all`
 * streams every table.
 */
async function selectRecords(
  store: PrivacyStore,
  target: RecordRef,
  options: IterateOptions = {},
): Promise<ExportSelection> {
  const tables = store.tables;
  const covered = exportedTables(tables, target.kind);
  if (target.kind === "all") {
    const { rows } = await store.summary();
    return {
      target,
      tables,
      expected: covered.reduce(
        (sum, table) => sum + (rows[table.name] ?? 0),
        0,
      ),
      parts: covered.map((table) => ({
        table,
        rows: store.iterate(table.name, options),
      })),
    };
  }
  const about = new Set(tablesAbout(tables, target.kind));
  const parts: ExportPart[] = [];
  let expected = 0;
  for (const table of covered) {
    const rows = about.has(table) ? await store.read(table.name, target) : [];
    expected += rows.length;
    parts.push({ table, rows });
  }
  if (expected === 0) throw new RecordNotFoundError(target.kind, target.id);
  return { target, tables, expected, parts };
}

/**
 * Exports the target's rows to `sink`, streaming so that memory does not
 * grow with their number. The audit entry is written first, as `started`:
 * no row leaves the database unless its export is recorded, and when the
 * entry cannot be written (the store rejects) nothing reaches `sink`. It
 * ends as `done` or `failed`. The entry counts the rows stored for the
 * target when the export began, in every table it covers.
 */
export async function exportRecords(
  store: PrivacyStore,
  sink: TextSink,
  options: ExportOptions,
): Promise<ExportCounts> {
  const selection = await selectRecords(store, options.target, {
    onDamaged: options.onDamaged,
  });
  const entry = await store.recordAudit({
    actor: options.actor,
    action: "export",
    target: options.target,
    records: selection.expected,
    outcome: "started",
  });
  let counts: ExportCounts;
  try {
    const buffered = new BufferedSink(sink);
    counts = await writeExport(buffered, selection, {
      format: options.format,
      csvExact: options.csvExact,
      exportedAt: options.now ?? Math.floor(Date.now() / 1000),
      onProgress: options.onProgress,
    });
    await buffered.drain();
  } catch (error) {
    // Best effort: the export's own failure is what the caller must see.
    await store.finishAudit(entry, "failed").catch(() => {});
    throw error;
  }
  await store.finishAudit(entry, "done");
  return counts;
}

/** A whole export document held in memory, for one record (the bot's export). */
export interface RenderedExport {
  text: string;
  /** Rows written, over every table. */
  records: number;
  /** Rows written per table, as `exportRecords` counts them. */
  counts: ExportCounts;
}

/**
 * The export of `target` as one string, written by the same code as the
 * CLI's. Records nothing in the audit log: the caller does, before the
 * document reaches its reader. Throws `RecordNotFoundError` when nothing is
 * stored.
 */
export async function renderExport(
  store: PrivacyStore,
  target: RecordRef,
  options: { format?: Format; now?: number } = {},
): Promise<RenderedExport> {
  const parts: string[] = [];
  const sink = new BufferedSink({
    write: (text) => Promise.resolve(void parts.push(text)),
  });
  const counts = await writeExport(sink, await selectRecords(store, target), {
    format: options.format ?? "json",
    exportedAt: options.now ?? Math.floor(Date.now() / 1000),
  });
  await sink.drain();
  return { text: parts.join(""), records: totalOf(counts), counts };
}

/** The sum of an export's per-table counts. */
export function totalOf(counts: ExportCounts): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

/** How one format frames a document and writes each table's rows. */
interface Encoder {
  start: string;
  /** What opens a table's part of the document (the JSON key). */
  open(table: TableDescription): string;
  /** The writer of one table's rows. */
  row(table: TableDescription): RowWriter;
  close: string;
  end: string;
  /** Whether rows after the first are separated by a comma. */
  comma: boolean;
}

function encoderFor(
  selection: ExportSelection,
  options: WriteExportOptions,
): Encoder {
  switch (options.format) {
    case "json":
      return {
        start: `{"format_version":${FORMAT_VERSION},"exported_at":"${
          isoTime(options.exportedAt)
        }"`,
        open: (table) => `,${JSON.stringify(table.name)}:[`,
        row: (table) => {
          const members = jsonMembers(table);
          return (row) => `{${members(row)}}`;
        },
        close: "]",
        end: "}\n",
        comma: true,
      };
    case "ndjson":
      return { ...LINES, row: ndjsonLine };
    case "csv": {
      const columns = csvColumns(selection.tables);
      return {
        ...LINES,
        start: csvHeader(selection.tables),
        row: (table) => csvRow(table, columns, { exact: options.csvExact }),
      };
    }
  }
}

const LINES = {
  start: "",
  open: () => "",
  close: "",
  end: "",
  comma: false,
};

// Progress is reported this often: rarely enough to cost nothing per row.
const PROGRESS_EVERY = 4096;

/**
 * Writes a whole export document row by row into `sink` (flushing it
 * when full; the caller drains it at the end). The JSON document is written
 * incrementally too, so `all` never holds every row at once.
 */
async function writeExport(
  sink: BufferedSink,
  selection: ExportSelection,
  options: WriteExportOptions,
): Promise<ExportCounts> {
  const encoder = encoderFor(selection, options);
  const progress = options.onProgress;
  const total = selection.expected;
  const counts: ExportCounts = {};
  let done = 0;
  progress?.(0, total);
  sink.push(encoder.start);
  for (const part of selection.parts) {
    sink.push(encoder.open(part.table));
    const write = encoder.row(part.table);
    // The loop runs once per row of a million-row export: one writer call,
    // one push, and a flush only when the buffer is full.
    let count = 0;
    for await (const row of part.rows) {
      const text = count === 0 || !encoder.comma
        ? write(row)
        : `,${write(row)}`;
      if (sink.push(text)) await sink.flush();
      count++;
      if (++done % PROGRESS_EVERY === 0) progress?.(done, total);
    }
    sink.push(encoder.close);
    counts[part.table.name] = count;
  }
  sink.push(encoder.end);
  progress?.(done, Math.max(total, done));
  return counts;
}
