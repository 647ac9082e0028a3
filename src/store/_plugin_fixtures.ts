// Plugin data for the schema tests of both engines: the example notes
// plugin's catalog, its rows as stored, and plugins whose migrations fail.

import {
  type Catalog,
  catalogOf,
  type DataDeclaration,
  type Row,
} from "../base/tables.ts";
import { FieldCodec } from "../crypto/field_codec.ts";
import type { FieldCipher } from "../crypto/field_cipher.ts";
import {
  NOTES_DATA,
  NOTES_ENTRIES,
  NOTES_SHARED,
} from "../../examples/notes/data.ts";

/** The catalog with the example notes plugin installed. */
export const NOTES_CATALOG: Catalog = catalogOf([NOTES_DATA]);

/** Notes of two people, one of them shared in a group (plaintext). */
export const NOTE_ROWS: { table: typeof NOTES_ENTRIES; row: Row }[] = [
  {
    table: NOTES_ENTRIES,
    row: { user_id: 1, note_id: 10, text: "Buy milk 🥛", created_at: 1_700 },
  },
  {
    table: NOTES_ENTRIES,
    row: {
      user_id: 8_000_000_000_123,
      note_id: 11,
      text: 'Line\nbreak, "quoted"',
      created_at: 1_701,
    },
  },
  {
    table: NOTES_SHARED,
    row: {
      chat_id: -1001234567890,
      user_id: 1,
      text: "Hi all",
      shared_at: 1_702,
    },
  },
];

/** The notes' texts, to look for in stored bytes. */
export const NOTE_TEXTS = NOTE_ROWS.map(({ row }) => String(row.text));

/** `INSERT` statements for the note rows as `cipher` would store them (plaintext without one). */
export function noteInserts(
  cipher: FieldCipher | undefined,
  placeholder: (index: number) => string,
): { sql: string; params: (string | number | null)[] }[] {
  const codec = new FieldCodec(cipher);
  return NOTE_ROWS.map(({ table, row }) => {
    const stored = codec.encodeRowSync(table, row);
    const columns = table.columns.map((column) => column.name);
    return {
      sql: `INSERT INTO ${table.name} (${columns.join(", ")}) VALUES (${
        columns.map((_, i) => placeholder(i + 1)).join(", ")
      })`,
      params: columns.map((column) => stored[column] ?? null),
    };
  });
}

/**
 * A plugin named `name` whose migrations for both engines are the given
 * files, written to a new temporary folder (removed by `remove`).
 */
export async function pluginWithMigrations(
  name: string,
  files: Record<string, string>,
  declares: Omit<DataDeclaration, "name" | "migrations"> = {},
): Promise<{ plugin: DataDeclaration; remove(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "privacy_bot_plugin_" });
  for (const [file, sql] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${file}`, sql);
  }
  const url = new URL(`file://${dir}/`);
  return {
    plugin: { name, ...declares, migrations: { sqlite: url, postgres: url } },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
