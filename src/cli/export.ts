import {
  createOwnerOnly,
  partialPathFor,
  pathExists,
  publishFile,
} from "../fs/new_file.ts";
import type { RecordRef } from "../store/audit.ts";
import type { PrivacyStore, TableDescription } from "../store/store.ts";
import type { DamagedRecordError } from "../crypto/field_codec.ts";
import {
  type ExportCounts,
  type ExportOptions,
  exportRecords,
  RecordNotFoundError,
} from "../privacy/export.ts";
import { errorChain } from "../base/error_text.ts";
import { plural } from "../base/plural.ts";
import type { Format } from "../privacy/formats.ts";
import { type TextSink, writerSink } from "../privacy/text_sink.ts";
import {
  CliError,
  EXIT,
  fileError,
  notFound,
  usageError,
} from "./cli_error.ts";
import type { CliIo } from "./io.ts";
import { Progress } from "./progress.ts";

/** Options of `export`. */
export interface ExportCommandOptions {
  target: RecordRef;
  format: Format;
  /** CSV only: cells exactly as stored, even those a spreadsheet would run. */
  keepFormulas?: boolean;
  /** Write to this file (created 0600) instead of stdout. */
  out?: string;
  /** Replace `out` when it exists. */
  force?: boolean;
  /** No progress display even on a terminal. */
  quiet?: boolean;
  io: CliIo;
  /** Export time, Unix seconds; defaults to now. */
  now?: number;
}

/**
 * `export`: writes the records to stdout or to `out`. The audit entry is
 * written before any record; if it cannot be, nothing is written and no
 * file is left (exit 3). A file is written under a temporary name beside
 * `out` and moved into place only when complete, so a failed export never
 * leaves something that looks like a whole one. A record that is not stored
 * exits 1.
 */
export async function exportCommand(
  store: PrivacyStore,
  options: ExportCommandOptions,
): Promise<void> {
  const { io, out } = options;
  if (out !== undefined && !options.force && await pathExists(out)) {
    throw alreadyExists(out);
  }
  const progress = new Progress(io, {
    label: "Exporting",
    quiet: options.quiet || options.target.kind !== "all",
  });
  // Damaged records are named (never shown) as they are met, and left out.
  const damaged: DamagedRecordError[] = [];
  const onDamaged = (error: DamagedRecordError) => {
    damaged.push(error);
    io.stderr.write(`warning: left out: ${error.message}\n`).catch(() => {});
  };
  // Set once writing began: a failure after it leaves a partial document.
  let writing = false;
  const onProgress = (done: number, total?: number) => {
    writing = true;
    progress.update(done, total);
  };
  let counts: ExportCounts;
  try {
    counts = out === undefined
      ? await exportRecords(store, io.stdout, {
        target: options.target,
        format: options.format,
        csvExact: options.keepFormulas,
        actor: "cli",
        now: options.now,
        onProgress,
        onDamaged,
      })
      : await exportToFile(store, out, options, {
        onProgress: progress.update,
        onDamaged,
      });
  } catch (error) {
    if (error instanceof RecordNotFoundError) {
      throw notFound(error.kind, error.id);
    }
    // Part of the document is already out: say that it is incomplete.
    if (out === undefined && writing && !(error instanceof CliError)) {
      throw new CliError(
        `The export to standard output stopped partway and what was written is incomplete: ${
          errorChain(error)
        }`,
        EXIT.store,
      );
    }
    throw error;
  } finally {
    await progress.finish();
  }
  await io.stderr.write(
    `Exported ${describeCounts(store.tables, counts)}${
      out === undefined ? "" : ` to "${out}"`
    }\n`,
  );
  if (damaged.length > 0) {
    throw new CliError(
      `${
        plural(damaged.length, "damaged record")
      } left out of the export (named above): their stored values fail their integrity check; purge deletes such a record without reading it`,
      EXIT.damaged,
    );
  }
}

// "3 users and 0 groups", then each other table the export covered: "1
// user, 0 groups, 2 notes and 1 shared note".
function describeCounts(
  tables: readonly TableDescription[],
  counts: ExportCounts,
): string {
  const parts = tables.filter((table) => Object.hasOwn(counts, table.name))
    .map((table) => plural(counts[table.name]!, table.record));
  return `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`;
}

async function exportToFile(
  store: PrivacyStore,
  out: string,
  options: ExportCommandOptions,
  hooks: Pick<ExportOptions, "onProgress" | "onDamaged">,
): Promise<ExportCounts> {
  const partial = partialPathFor(out);
  let file: Deno.FsFile;
  try {
    file = await createOwnerOnly(partial);
  } catch (error) {
    throw usageError(
      `Cannot create the file "${out}": ${(error as Error).message}`,
    );
  }
  let closed = false;
  try {
    const counts = await exportRecords(store, fileSink(file, out), {
      target: options.target,
      format: options.format,
      csvExact: options.keepFormulas,
      actor: "cli",
      now: options.now,
      ...hooks,
    });
    await file.sync().catch((error) => {
      throw fileError("the export file", out, error);
    });
    file.close();
    closed = true;
    await publish(partial, out, options.force ?? false);
    return counts;
  } finally {
    if (!closed) file.close();
    await Deno.remove(partial).catch(() => {});
  }
}

// The file's own write errors (a full disk) name the file they hit.
function fileSink(file: Deno.FsFile, out: string): TextSink {
  const sink = writerSink(file);
  const named = (error: unknown): never => {
    throw fileError("the export file", out, error);
  };
  return {
    write: (text) => sink.write(text).catch(named),
    writeBytes: (bytes) => sink.writeBytes!(bytes).catch(named),
  };
}

// Without --force, link(2) refuses an `out` that appeared meanwhile; with
// it, rename(2) replaces the old file in one step.
async function publish(
  partial: string,
  out: string,
  force: boolean,
): Promise<void> {
  try {
    await publishFile(partial, out, { replace: force });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw alreadyExists(out);
    throw new CliError(
      `Cannot create the file "${out}": ${(error as Error).message}`,
      EXIT.usage,
    );
  }
}

function alreadyExists(out: string): CliError {
  return usageError(
    `The file "${out}" already exists; pass --force to overwrite it`,
  );
}
