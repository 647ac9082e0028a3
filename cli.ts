import "./src/runtime/node_warnings.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { RecordRef } from "./src/store/audit.ts";
import { errorChain } from "./src/base/error_text.ts";
import {
  CliError,
  damagedRecord,
  EXIT,
  usageError,
} from "./src/cli/cli_error.ts";
import { DamagedRecordError } from "./src/crypto/field_codec.ts";
import { type Format, FORMATS } from "./src/privacy/formats.ts";
import { audit, AUDIT_FORMATS, type AuditFormat } from "./src/cli/audit.ts";
import { backup } from "./src/cli/backup.ts";
import { copy } from "./src/cli/copy.ts";
import { exportCommand } from "./src/cli/export.ts";
import { COMMAND_HELP, MAIN_HELP, VERSION } from "./src/cli/help.ts";
import { inspect } from "./src/cli/inspect.ts";
import { type CliIo, processIo } from "./src/cli/io.ts";
import { keygen } from "./src/cli/keygen.ts";
import { compact } from "./src/cli/compact.ts";
import { migrate } from "./src/cli/migrate.ts";
import { Progress } from "./src/cli/progress.ts";
import { type KeyDestination, rotateKey } from "./src/cli/rotate_key.ts";
import { purge } from "./src/cli/purge.ts";
import { noTelemetry, telemetryOn } from "./src/base/telemetry.ts";
import { decommission } from "./src/cli/decommission.ts";
import { sweepCommand } from "./src/cli/sweep.ts";
import { loadRetention } from "./src/config/retention.ts";
import { setup } from "./src/cli/setup.ts";
import {
  ConfigError,
  type DatabaseLocation,
  type Env,
  loadDatabaseLocation,
} from "./src/config/config.ts";
import {
  describeLocation,
  parseDatabaseUrl,
} from "./src/config/database_url.ts";
import {
  type DataKey,
  decodeKey,
  keySource,
  loadDataKey,
} from "./src/crypto/data_key.ts";
import {
  FieldCipher,
  TamperedError,
  WrongKeyError,
} from "./src/crypto/field_cipher.ts";
import { dataKeyCipher, interruptedRotation } from "./src/crypto/key_file.ts";
import { openStore, sqliteCreates } from "./src/store/open_store.ts";
import { type Store, StoreError, type SubjectRef } from "./src/store/store.ts";
import type { Catalog } from "./src/base/tables.ts";
import { installedCatalog, plugins } from "./plugins.ts";

/** Options of `runCli`. */
export interface RunCliOptions {
  /** The tables to know; default the installed plugins' (`plugins.ts`). */
  catalog?: Catalog;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

const GLOBAL: Options = {
  database: { type: "string" },
  help: { type: "boolean" },
  version: { type: "boolean" },
};
const ID: Options = { user: { type: "string" }, group: { type: "string" } };

const QUIET: Options = { quiet: { type: "boolean" } };

const COMMANDS = {
  export: {
    ...ID,
    ...QUIET,
    all: { type: "boolean" },
    format: { type: "string" },
    "keep-formulas": { type: "boolean" },
    out: { type: "string" },
    force: { type: "boolean" },
  },
  inspect: { ...ID },
  purge: {
    ...ID,
    all: { type: "boolean" },
    "dry-run": { type: "boolean" },
    yes: { type: "boolean" },
  },
  audit: { ...ID, format: { type: "string" } },
  migrate: {},
  compact: {},
  keygen: { out: { type: "string" }, id: { type: "string" } },
  "rotate-key": { ...QUIET },
  backup: { out: { type: "string" } },
  copy: { ...QUIET, to: { type: "string" } },
  setup: {},
  sweep: { "dry-run": { type: "boolean" } },
  decommission: {
    yes: { type: "boolean" },
    "destroy-key": { type: "boolean" },
  },
} satisfies Record<string, Options>;

type Command = keyof typeof COMMANDS;
type Values = Record<string, string | boolean | undefined>;

/** Parses the arguments, runs one command and returns the exit code. */
export async function runCli(
  args: string[],
  io: CliIo,
  options: RunCliOptions = {},
): Promise<number> {
  try {
    return await dispatch(args, io, options.catalog ?? pluginsCatalog());
  } catch (error) {
    const code = error instanceof CliError
      ? error.exitCode
      : error instanceof ConfigError
      ? EXIT.usage
      : EXIT.store;
    await io.stderr.write(
      `error: ${errorChain(error, (e) => e instanceof TamperedError)}\n`,
    );
    return code;
  }
}

async function dispatch(
  args: string[],
  io: CliIo,
  catalog: Catalog,
): Promise<number> {
  args = joinNegativeIds(args);
  const command = findCommand(args);
  if (command !== undefined && !Object.hasOwn(COMMANDS, command)) {
    throw usageError(
      `Unknown command "${command}"; commands are ${
        Object.keys(COMMANDS).join(", ")
      }`,
    );
  }
  const values = parse(args, command as Command | undefined);
  if (values.version) {
    await io.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  if (values.help) {
    await io.stdout.write(
      command === undefined ? MAIN_HELP : COMMAND_HELP[command as Command],
    );
    return EXIT.ok;
  }
  if (command === undefined) {
    // No command is a usage error: the help goes where messages go.
    await io.stderr.write(MAIN_HELP);
    return EXIT.usage;
  }
  const env = Deno.env.toObject();
  const location = typeof values.database === "string"
    ? parseDatabaseUrl(values.database, { variable: "--database" })
    : loadDatabaseLocation(env);
  const quiet = values.quiet === true;
  if (command === "keygen") {
    const id = optionalString(values.id, "--id");
    await keygen({
      out: optionalString(values.out, "--out"),
      id: id === undefined ? undefined : {
        path: id,
        read: () =>
          id === "-"
            ? new Response(Deno.stdin.readable).text()
            : Deno.readTextFile(id),
      },
      io,
    });
    return EXIT.ok;
  }
  if (command === "backup") {
    const out = requireString(values.out, "--out", "backup");
    if (location.kind !== "sqlite") {
      throw usageError(
        "backup copies SQLite databases only; for PostgreSQL use pg_dump (the data key stays needed to read the dump)",
      );
    }
    await requireDatabaseFile(location);
    await backup(location.path, { out, io });
    return EXIT.ok;
  }
  // Checked before anything is opened, so that a usage error changes nothing.
  const copyTo = command === "copy"
    ? requireString(values.to, "--to", "copy")
    : undefined;
  const exportOptions = command === "export"
    ? {
      target: requireTarget(values),
      format: readFormat(values.format),
      keepFormulas: readKeepFormulas(values),
      out: optionalString(values.out, "--out"),
    }
    : undefined;
  const auditOptions = command === "audit"
    ? { target: requireRecord(values), format: readAuditFormat(values.format) }
    : undefined;
  const dataKey = await loadDataKey(env, { create: false });
  const destroyKey =
    command === "decommission" && values["destroy-key"] === true
      ? keyFileToDestroy(dataKey)
      : undefined;
  const destination = command === "rotate-key"
    ? keyDestination(dataKey, env)
    : undefined;
  const cipher = dataKey && dataKeyCipher(dataKey);
  if (command !== "migrate") await requireDatabaseFile(location);
  // migrate makes a missing database, but never a missing folder other
  // than the default one: a mistyped path changes nothing.
  const creates = command === "migrate" && location.kind === "sqlite"
    ? await sqliteCreates(
      location.path,
      typeof values.database === "string" ? "--database" : "DATABASE_URL",
    )
    : "nothing";
  const open = {
    catalog,
    // A damaged row met while showing one person or group names them.
    subject: subjectOf(values),
    create: command === "migrate",
    initialiseEmpty: command === "migrate",
    createFolder: creates === "folder",
    cipher,
    io,
    quiet,
    wrongKeyHint: dataKey &&
      `; it came from ${keySource(dataKey)}${await interruptedRotation(
        dataKey,
      )}`,
  };
  // Counted and traced only when Deno exports telemetry (OTEL_DENO).
  const telemetry = telemetryOn(env)
    ? (await import("./src/runtime/otel.ts")).createOtelTelemetry()
    : noTelemetry;
  return await withStore(location, open, async (store) => {
    switch (command as Command) {
      case "export":
        await telemetry.privacy("export", "cli", () =>
          exportCommand(store, {
            ...exportOptions!,
            force: values.force === true,
            quiet,
            io,
          }));
        break;
      case "inspect":
        await telemetry.privacy("inspect", "cli", () =>
          inspect(store, {
            target: optionalTarget(values),
            location: describeLocation(location),
            io,
          }));
        break;
      case "purge":
        await telemetry.privacy("erase", "cli", () =>
          purge(store, {
            target: requireTarget(values),
            dryRun: values["dry-run"] === true,
            yes: values.yes === true,
            deletedRowsLinger: location.kind === "postgres",
            io,
            telemetry,
          }));
        break;
      case "audit":
        await audit(store, { ...auditOptions!, io });
        break;
      case "migrate":
        await migrate(store, {
          io,
          created: creates === "nothing" || location.kind !== "sqlite"
            ? undefined
            : location.path,
        });
        break;
      case "compact":
        await compact(store, { io });
        break;
      case "rotate-key":
        await rotateKey(store, {
          current: cipher,
          destination: destination!,
          io,
          quiet,
        });
        break;
      case "copy":
        await copy(store, { from: location, to: copyTo!, io, quiet });
        break;
      case "setup":
        await setup(store, { env, io, plugins });
        break;
      case "decommission":
        await decommission(store, {
          yes: values.yes === true,
          destroyKey,
          telegram: telegramOf(env),
          plugins,
          io,
        });
        break;
      case "sweep":
        await sweepCommand(store, {
          days: loadRetention(env).retentionDays,
          dryRun: values["dry-run"] === true,
          io,
          telemetry,
        });
        break;
    }
    return EXIT.ok;
  });
}

// Checked before anything is opened: --destroy-key needs a key file.
function keyFileToDestroy(dataKey: DataKey | undefined): string {
  if (dataKey?.source !== "DATA_KEY_FILE" || dataKey.path === undefined) {
    throw usageError(
      "--destroy-key destroys the key file, but the key does not come from DATA_KEY_FILE",
    );
  }
  return dataKey.path;
}

// Telegram to clean up at on decommission, when a token is given.
function telegramOf(
  env: Env,
): { token: string; apiRoot: string } | undefined {
  const token = env.BOT_TOKEN?.trim() ?? "";
  if (token === "") return undefined;
  const apiRoot = env.BOT_API_ROOT?.trim() || "https://api.telegram.org";
  return { token, apiRoot: apiRoot.replace(/\/+$/, "") };
}

// With a key file, rotate-key makes the new key and writes it there itself;
// with DATA_ENCRYPTION_KEY, the operator brings a new key they have saved.
function keyDestination(
  dataKey: DataKey | undefined,
  env: Env,
): KeyDestination {
  const given = env.NEW_DATA_ENCRYPTION_KEY?.trim() ?? "";
  if (dataKey === undefined) {
    throw usageError(
      "rotate-key needs the current key in DATA_ENCRYPTION_KEY or DATA_KEY_FILE",
    );
  }
  if (dataKey.source === "DATA_KEY_FILE") {
    if (given !== "") {
      throw usageError(
        `NEW_DATA_ENCRYPTION_KEY is set, but the key comes from the file "${dataKey.path}": rotate-key makes the new key and writes it to that file itself, so unset NEW_DATA_ENCRYPTION_KEY`,
      );
    }
    return {
      kind: "file",
      path: dataKey.path!,
      keys: [dataKey.key, ...dataKey.previous],
    };
  }
  return {
    kind: "variable",
    next: given === ""
      ? undefined
      : decodeKey(given, "NEW_DATA_ENCRYPTION_KEY"),
  };
}

// Only migrate may create a database: a mistyped path must not silently
// become a new, empty one, and the operator learns how to make one.
async function requireDatabaseFile(location: DatabaseLocation): Promise<void> {
  if (location.kind !== "sqlite" || location.path === ":memory:") return;
  try {
    await Deno.stat(location.path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return;
    throw new CliError(
      `There is no SQLite database at "${location.path}": check --database or DATABASE_URL, or create it with deno task cli migrate`,
      EXIT.store,
    );
  }
}

async function withStore(
  location: DatabaseLocation,
  options: {
    catalog: Catalog;
    subject: SubjectRef | undefined;
    create: boolean;
    createFolder: boolean;
    initialiseEmpty: boolean;
    cipher: FieldCipher | undefined;
    io: CliIo;
    quiet: boolean;
    /** Added to a wrong-key error. */
    wrongKeyHint?: string;
  },
  body: (store: Store) => Promise<number>,
): Promise<number> {
  // The first key a plaintext database meets encrypts every record in it.
  const progress = new Progress(options.io, {
    label: "Encrypting the database",
    quiet: options.quiet,
  });
  let store: Store;
  try {
    // A variable, not a literal: the opener's options gain onProgress
    // separately, and SQLite's already take it.
    const opening = {
      catalog: options.catalog,
      create: options.create,
      createFolder: options.createFolder,
      initialiseEmpty: options.initialiseEmpty,
      cipher: options.cipher,
      onProgress: progress.update,
    };
    store = await openStore(location, opening);
  } catch (error) {
    // A table the plugins do not describe: exit 2, as bad configuration.
    if (error instanceof ConfigError) throw error;
    const hint = error instanceof WrongKeyError ? options.wrongKeyHint : "";
    throw new CliError(
      errorChain(error, (e) => e instanceof TamperedError) + (hint ?? ""),
      EXIT.store,
    );
  } finally {
    await progress.finish();
  }
  try {
    return await body(store);
  } catch (error) {
    if (error instanceof DamagedRecordError) {
      throw options.subject === undefined
        ? new CliError(error.message, EXIT.damaged)
        : damagedRecord(error, options.subject);
    }
    if (error instanceof StoreError) {
      throw new CliError(
        errorChain(error, (e) => e instanceof TamperedError),
        EXIT.store,
      );
    }
    throw error;
  } finally {
    await store.close();
  }
}

// Every table the installed plugins (plugins.ts) describe: the one place
// the CLI learns them, so that export, inspect, purge, copy and rotate-key
// cover them all. A plugin declared wrongly is a usage error (exit 2).
function pluginsCatalog(): Catalog {
  try {
    return installedCatalog();
  } catch (error) {
    if (error instanceof TypeError) throw usageError(error.message);
    throw error;
  }
}

// Group ids are negative, and parseArgs would read "--group -100" as two
// options; "--group=-100" is what it understands.
function joinNegativeIds(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (
      (arg === "--user" || arg === "--group") && next !== undefined &&
      /^-\d+$/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function findCommand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--database") i++;
    else if (arg === "--") return args[i + 1];
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}

function parse(args: string[], command: Command | undefined): Values {
  const options = {
    ...GLOBAL,
    ...(command === undefined ? {} : COMMANDS[command]),
  };
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw usageError(describeParseError(error as Error, command));
  }
  const extra = parsed.positionals.slice(command === undefined ? 0 : 1);
  if (extra.length > 0) throw usageError(`Unexpected argument "${extra[0]}"`);
  return parsed.values as Values;
}

function describeParseError(
  error: Error,
  command: Command | undefined,
): string {
  const where = command === undefined ? "" : ` for ${command}`;
  const option = /'(-[^' ]+)/.exec(error.message)?.[1];
  if (/Unknown option/.test(error.message) && option !== undefined) {
    return `Unknown option "${option}"${where}; see --help`;
  }
  if (/argument missing/.test(error.message) && option !== undefined) {
    return `Option "${option}" needs a value`;
  }
  if (/does not take an argument/.test(error.message) && option !== undefined) {
    return `Option "${option}" takes no value`;
  }
  return error.message.split("\n")[0]!;
}

function requireTarget(values: Values): RecordRef {
  const target = optionalTarget(values);
  const all = values.all === true;
  if ((target === undefined) === !all) {
    throw usageError("Give exactly one of --user ID, --group ID or --all");
  }
  return target ?? { kind: "all" };
}

// The person or group a command names, if it names one (never throws:
// the command's own parsing reports bad options).
function subjectOf(values: Values): SubjectRef | undefined {
  try {
    return optionalTarget(values);
  } catch {
    return undefined;
  }
}

function requireRecord(
  values: Values,
): RecordRef & { kind: "user" | "group" } {
  const target = optionalTarget(values);
  if (target === undefined) throw usageError("Give --user ID or --group ID");
  return target;
}

function optionalTarget(
  values: Values,
): (RecordRef & { kind: "user" | "group" }) | undefined {
  if (values.user !== undefined && values.group !== undefined) {
    throw usageError("Give --user or --group, not both");
  }
  if (values.user !== undefined) {
    return { kind: "user", id: readId("--user", values.user) };
  }
  if (values.group !== undefined) {
    return { kind: "group", id: readId("--group", values.group) };
  }
  return undefined;
}

function readId(flag: string, value: string | boolean): number {
  const id = typeof value === "string" && /^-?\d{1,19}$/.test(value)
    ? Number(value)
    : NaN;
  if (!Number.isSafeInteger(id)) {
    throw usageError(`${flag} needs an integer Telegram id, got "${value}"`);
  }
  return id;
}

function optionalString(
  value: string | boolean | undefined,
  flag: string,
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw usageError(`Option "${flag}" needs a value`);
  }
  return value;
}

function requireString(
  value: string | boolean | undefined,
  flag: string,
  command: string,
): string {
  const text = optionalString(value, flag);
  if (text === undefined) throw usageError(`${command} needs ${flag}`);
  return text;
}

function readKeepFormulas(values: Values): boolean {
  if (values["keep-formulas"] !== true) return false;
  if (values.format !== "csv") {
    throw usageError(
      "--keep-formulas applies to --format csv only; JSON and NDJSON always keep every value exactly",
    );
  }
  return true;
}

function readFormat(value: string | boolean | undefined): Format {
  if (value === undefined) return "json";
  if (!FORMATS.includes(value as Format)) {
    throw usageError(`--format must be json, ndjson or csv, got "${value}"`);
  }
  return value as Format;
}

function readAuditFormat(value: string | boolean | undefined): AuditFormat {
  if (value === undefined) return "text";
  if (!AUDIT_FORMATS.includes(value as AuditFormat)) {
    throw usageError(`--format must be text, json or ndjson, got "${value}"`);
  }
  return value as AuditFormat;
}

if (import.meta.main) Deno.exit(await runCli(Deno.args, processIo()));
