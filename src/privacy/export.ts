/**
 * Privacy requests as data: exports in every format (this file and
 * `formats.ts`) and readable descriptions of records, shared by the CLI and
 * the bot's own privacy commands. Above the store, below the bot.
 *
 * @module
 */
import type { Actor, RecordRef } from "../store/audit.ts";
import type {
  GroupRecord,
  IterateOptions,
  PrivacyStore,
  UserRecord,
} from "../store/store.ts";
import {
  CSV_HEADER,
  csvGroup,
  csvUser,
  type Format,
  FORMAT_VERSION,
  groupMembers,
  isoTime,
  userMembers,
} from "./formats.ts";
import { BufferedSink, type TextSink } from "./text_sink.ts";

/** No user or group with the requested id is stored. */
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

/** How many records of each kind were written. */
export interface ExportCounts {
  users: number;
  groups: number;
}

/**
 * The records one export will write, looked up before anything is written,
 * so that a missing record fails before the audit log or the output is
 * touched.
 */
export interface ExportSelection {
  target: RecordRef;
  /** How many records are stored for the target now (for the audit log and progress). */
  expected: number;
  users: AsyncIterable<UserRecord> | Iterable<UserRecord>;
  groups: AsyncIterable<GroupRecord> | Iterable<GroupRecord>;
}

/** Options of `writeExport`. */
export interface WriteExportOptions {
  format: Format;
  /** CSV only: write cells exactly as stored, formulas included. */
  csvExact?: boolean;
  /** Export time, Unix seconds. */
  exportedAt: number;
  /** Told every few thousand records, and once at the end. */
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
  /** Told as records are written, with the total when known. */
  onProgress?: (done: number, total?: number) => void;
  /**
   * Told of each damaged record of an `all` export, which is then left out
   * while the rest is written; without it such a record ends the export.
   */
  onDamaged?: IterateOptions["onDamaged"];
}

/**
 * Looks up what an export of `target` will write. A single record must be
 * stored (`RecordNotFoundError` otherwise); `all` streams every record.
 */
async function selectRecords(
  store: PrivacyStore,
  target: RecordRef,
  options: IterateOptions = {},
): Promise<ExportSelection> {
  switch (target.kind) {
    case "all": {
      const summary = await store.summary();
      return {
        target,
        expected: summary.users + summary.groups,
        users: store.iterateUsers(options),
        groups: store.iterateGroups(options),
      };
    }
    case "user": {
      const user = await store.getUser(target.id);
      if (user === undefined) throw new RecordNotFoundError("user", target.id);
      return { target, expected: 1, users: [user], groups: [] };
    }
    case "group": {
      const group = await store.getGroup(target.id);
      if (group === undefined) {
        throw new RecordNotFoundError("group", target.id);
      }
      return { target, expected: 1, users: [], groups: [group] };
    }
  }
}

/**
 * Exports the target's records to `sink`, streaming so that memory does not
 * grow with their number. The audit entry is written first, as `started`:
 * no record leaves the database unless its export is recorded, and when the
 * entry cannot be written (the store rejects) nothing reaches `sink`. It
 * ends as `done` or `failed`. For `all` the entry counts the records stored
 * when the export began.
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
  records: number;
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
  const count = await writeExport(sink, await selectRecords(store, target), {
    format: options.format ?? "json",
    exportedAt: options.now ?? Math.floor(Date.now() / 1000),
  });
  await sink.drain();
  return { text: parts.join(""), records: count.users + count.groups };
}

/** How one format frames and writes records. */
interface Encoder {
  start(exportedAt: number): string;
  user(user: UserRecord, first: boolean): string;
  between: string;
  group(group: GroupRecord, first: boolean): string;
  end: string;
}

const ENCODERS: Record<Format, Encoder> = {
  json: {
    start: (exportedAt) =>
      `{"format_version":${FORMAT_VERSION},"exported_at":"${
        isoTime(exportedAt)
      }","users":[`,
    user: (user, first) => `${first ? "" : ","}{${userMembers(user)}}`,
    between: `],"groups":[`,
    group: (group, first) => `${first ? "" : ","}{${groupMembers(group)}}`,
    end: "]}\n",
  },
  ndjson: {
    start: () => "",
    user: (user) => `{"kind":"user",${userMembers(user)}}\n`,
    between: "",
    group: (group) => `{"kind":"group",${groupMembers(group)}}\n`,
    end: "",
  },
  csv: {
    start: () => CSV_HEADER,
    user: (user) => csvUser(user),
    between: "",
    group: (group) => csvGroup(group),
    end: "",
  },
};

const EXACT_CSV: Encoder = {
  ...ENCODERS.csv,
  user: (user) => csvUser(user, true),
  group: (group) => csvGroup(group, true),
};

// Progress is reported this often: rarely enough to cost nothing per record.
const PROGRESS_EVERY = 4096;

/**
 * Writes a whole export document record by record into `sink` (flushing it
 * when full; the caller drains it at the end). The JSON document is written
 * incrementally too, so `all` never holds every record at once.
 */
async function writeExport(
  sink: BufferedSink,
  selection: ExportSelection,
  options: WriteExportOptions,
): Promise<ExportCounts> {
  const encoder = options.format === "csv" && options.csvExact
    ? EXACT_CSV
    : ENCODERS[options.format];
  const progress = options.onProgress;
  const total = selection.expected;
  let users = 0;
  let groups = 0;
  progress?.(0, total);
  sink.push(encoder.start(options.exportedAt));
  for await (const user of selection.users) {
    if (sink.push(encoder.user(user, users === 0))) await sink.flush();
    if (++users % PROGRESS_EVERY === 0) progress?.(users, total);
  }
  sink.push(encoder.between);
  for await (const group of selection.groups) {
    if (sink.push(encoder.group(group, groups === 0))) await sink.flush();
    if (++groups % PROGRESS_EVERY === 0) progress?.(users + groups, total);
  }
  sink.push(encoder.end);
  progress?.(users + groups, Math.max(total, users + groups));
  return { users, groups };
}
