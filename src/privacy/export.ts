import type { RecordRef } from "../store/audit.ts";
import type { GroupRecord, Store, UserRecord } from "../store/store.ts";
import { CliError, EXIT, notFound } from "../cli/cli_error.ts";
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
import { BufferedSink, type CliIo, writerSink } from "../cli/io.ts";

/** Options of `export`. */
export interface ExportOptions {
  target: RecordRef;
  format: Format;
  /** Write to this file (created 0600) instead of stdout. */
  out?: string;
  /** Overwrite `out` when it exists. */
  force?: boolean;
  io: CliIo;
  /** Who asks, for the audit log. */
  actor?: "cli" | "bot";
  /** Export time, Unix seconds; defaults to now. */
  now?: number;
}

const PROGRESS_EVERY = 10_000;

/**
 * Writes the target's records in the chosen format, streaming from the store
 * so memory does not grow with their number, then records the export in the
 * audit log. Exits 1 (via `CliError`) when a single record is not stored.
 */
export async function exportRecords(
  store: Store,
  options: ExportOptions,
): Promise<void> {
  const { target, io } = options;
  const records = await selectRecords(store, target);
  const file = options.out === undefined
    ? undefined
    : await createOutput(options.out, options.force ?? false);
  const sink = new BufferedSink(
    file === undefined ? io.stdout : writerSink(file),
  );
  const progress = new Progress(io);
  let count: Counts;
  try {
    count = await writeDocument(sink, records, {
      format: options.format,
      exportedAt: options.now ?? Math.floor(Date.now() / 1000),
      onRecord: () => progress.tick(),
    });
    await sink.flush();
  } catch (error) {
    file?.close();
    // A half-written file would look like a complete export.
    if (options.out !== undefined) {
      await Deno.remove(options.out).catch(() => {});
    }
    throw error;
  }
  file?.close();
  await progress.done();
  await store.recordAudit({
    actor: options.actor ?? "cli",
    action: "export",
    target,
    records: count.users + count.groups,
  });
  await io.stderr.write(
    `Exported ${plural(count.users, "user")} and ${
      plural(count.groups, "group")
    }${options.out === undefined ? "" : ` to "${options.out}"`}\n`,
  );
}

/** A whole export document held in memory, for one record (the bot's export). */
export interface RenderedExport {
  text: string;
  records: number;
}

/**
 * The export of `target` as one string, written by the same code as the
 * CLI's. Records nothing in the audit log: the caller does once the document
 * reached its reader. Throws the CLI's not-found error when nothing is stored.
 */
export async function renderExport(
  store: Store,
  target: RecordRef,
  options: { format?: Format; now?: number } = {},
): Promise<RenderedExport> {
  const parts: string[] = [];
  const sink = new BufferedSink({
    write: (text) => Promise.resolve(void parts.push(text)),
  });
  const count = await writeDocument(sink, await selectRecords(store, target), {
    format: options.format ?? "json",
    exportedAt: options.now ?? Math.floor(Date.now() / 1000),
    onRecord: () => {},
  });
  await sink.flush();
  return { text: parts.join(""), records: count.users + count.groups };
}

/** How many records of each kind were written. */
interface Counts {
  users: number;
  groups: number;
}

interface Records {
  users: AsyncIterable<UserRecord> | Iterable<UserRecord>;
  groups: AsyncIterable<GroupRecord> | Iterable<GroupRecord>;
}

async function selectRecords(
  store: Store,
  target: RecordRef,
): Promise<Records> {
  switch (target.kind) {
    case "all":
      return { users: store.iterateUsers(), groups: store.iterateGroups() };
    case "user": {
      const user = await store.getUser(target.id);
      if (user === undefined) throw notFound("user", target.id);
      return { users: [user], groups: [] };
    }
    case "group": {
      const group = await store.getGroup(target.id);
      if (group === undefined) throw notFound("group", target.id);
      return { users: [], groups: [group] };
    }
  }
}

interface DocumentOptions {
  format: Format;
  exportedAt: number;
  onRecord: () => void;
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
    user: csvUser,
    between: "",
    group: csvGroup,
    end: "",
  },
};

/**
 * Writes a whole export document record by record. The JSON document is
 * written incrementally too, so `--all` never holds every record at once.
 */
async function writeDocument(
  sink: BufferedSink,
  records: Records,
  options: DocumentOptions,
): Promise<Counts> {
  const encoder = ENCODERS[options.format];
  const count: Counts = { users: 0, groups: 0 };
  await sink.write(encoder.start(options.exportedAt));
  for await (const user of records.users) {
    if (sink.push(encoder.user(user, count.users === 0))) await sink.flush();
    count.users++;
    options.onRecord();
  }
  await sink.write(encoder.between);
  for await (const group of records.groups) {
    if (sink.push(encoder.group(group, count.groups === 0))) await sink.flush();
    count.groups++;
    options.onRecord();
  }
  await sink.write(encoder.end);
  return count;
}

async function createOutput(
  path: string,
  force: boolean,
): Promise<Deno.FsFile> {
  try {
    const file = await Deno.open(path, {
      write: true,
      // Without --force an existing file is never touched.
      createNew: !force,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    // mode applies only to a new file; an overwritten one is narrowed too.
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    return file;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new CliError(
        `The file "${path}" already exists; pass --force to overwrite it`,
        EXIT.usage,
      );
    }
    throw new CliError(
      `Cannot create the file "${path}": ${(error as Error).message}`,
      EXIT.usage,
    );
  }
}

// Shown only on a terminal and only for long exports.
class Progress {
  #io: CliIo;
  #count = 0;
  #shown = false;

  constructor(io: CliIo) {
    this.#io = io;
  }

  tick(): void {
    this.#count++;
    if (this.#io.stderrIsTerminal && this.#count % PROGRESS_EVERY === 0) {
      this.#shown = true;
      void this.#io.stderr.write(`\rExported ${this.#count} records…`);
    }
  }

  async done(): Promise<void> {
    if (this.#shown) await this.#io.stderr.write("\n");
  }
}

/** "1 user", "2 users". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
