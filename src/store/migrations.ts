/** One numbered schema change from `migrations/NNNN_name.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = new URL("../../migrations/sqlite/", import.meta.url);
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads the migration files in version order; versions must be 1, 2, 3, … */
export async function loadMigrations(
  dir: URL = MIGRATIONS_DIR,
): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = entry.isFile ? FILE_PATTERN.exec(entry.name) : null;
    if (match === null) continue;
    migrations.push({
      version: Number(match[1]),
      name: match[2]!,
      sql: await Deno.readTextFile(new URL(entry.name, dir)),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `Migration numbering has a gap or a duplicate at "${migration.version}_${migration.name}"`,
      );
    }
  });
  return migrations;
}
