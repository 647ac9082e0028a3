import { errorMessage } from "../base/error_text.ts";
import {
  type Catalog,
  CORE_NAMESPACE,
  type MigrationSource,
} from "../base/tables.ts";

/** One numbered schema change from `NNNN_name.sql` in a namespace's folder. */
export interface Migration {
  /** `core` for the project's own; a plugin's name for its own. */
  namespace: string;
  version: number;
  name: string;
  sql: string;
}

/** The two engines, as migration folders name them. */
export type Engine = "sqlite" | "postgres";

const MIGRATIONS_DIR = new URL("../../migrations/sqlite/", import.meta.url);
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Reads one namespace's migration files in version order; versions must be
 * 1, 2, 3, … (a gap or a duplicate throws, naming the namespace).
 */
export async function loadMigrations(
  dir: URL = MIGRATIONS_DIR,
  namespace: string = CORE_NAMESPACE,
): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = entry.isFile ? FILE_PATTERN.exec(entry.name) : null;
    if (match === null) continue;
    migrations.push({
      namespace,
      version: Number(match[1]),
      name: match[2]!,
      sql: await Deno.readTextFile(new URL(entry.name, dir)),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `${
          namespace === CORE_NAMESPACE ? "M" : `Plugin "${namespace}": m`
        }igration numbering has a gap or a duplicate at "${migration.version}_${migration.name}"`,
      );
    }
  });
  return migrations;
}

/**
 * Every migration of the catalog for `engine`: the core's first, then each
 * plugin's in the catalog's order, each namespace numbered on its own. A
 * plugin without a folder for this engine has none.
 */
export async function catalogMigrations(
  catalog: Catalog,
  engine: Engine,
): Promise<Migration[]> {
  const all: Migration[] = [];
  for (const source of catalog.migrations) {
    const dir = folderOf(source, engine);
    if (dir === undefined) continue;
    try {
      all.push(...await loadMigrations(dir, source.namespace));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          `${
            describeNamespace(source.namespace)
          }'s migrations folder "${dir.pathname}" does not exist`,
          { cause: error },
        );
      }
      throw error;
    }
  }
  return all;
}

function folderOf(source: MigrationSource, engine: Engine): URL | undefined {
  return engine === "sqlite" ? source.sqlite : source.postgres;
}

/** `The core` or `Plugin "notes"`: who a migration belongs to, for messages. */
export function describeNamespace(namespace: string): string {
  return namespace === CORE_NAMESPACE ? "The core" : `Plugin "${namespace}"`;
}

/** The highest applied migration of each namespace; absent: none applied. */
export type AppliedVersions = ReadonlyMap<string, number>;

/** What `applyMigrations` needs of an engine. */
export interface MigrationSteps {
  /** The highest applied migration per namespace, read without taking a lock. */
  current(): Promise<AppliedVersions>;
  /**
   * Applies `migration` and records it with its namespace, in one
   * transaction holding the lock that keeps two processes from migrating at
   * once; does nothing when the versions, read again under that lock, show
   * it applied meanwhile.
   */
  apply(migration: Migration, appliedAt: number): Promise<void>;
}

/**
 * Applies pending migrations in order (core first, then each plugin's). An
 * up-to-date database is opened without taking a lock, so that the CLI
 * and the bot can start while the other is writing. A failure names the
 * namespace, the version and the migration.
 */
export async function applyMigrations(
  migrations: readonly Migration[],
  steps: MigrationSteps,
): Promise<void> {
  const current = await steps.current();
  for (const migration of migrations) {
    if (migration.version <= (current.get(migration.namespace) ?? 0)) continue;
    try {
      await steps.apply(migration, Math.floor(Date.now() / 1000));
    } catch (error) {
      const owner = migration.namespace === CORE_NAMESPACE
        ? "migration"
        : `${describeNamespace(migration.namespace)}'s migration`;
      throw new Error(
        `${owner} ${migration.version} "${migration.name}" failed: ${
          errorMessage(error)
        }`,
        { cause: error },
      );
    }
  }
}

/** Whether `versions` already hold `migration` (read again under the lock). */
export function isApplied(
  versions: AppliedVersions,
  migration: Migration,
): boolean {
  return (versions.get(migration.namespace) ?? 0) >= migration.version;
}
