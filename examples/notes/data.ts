/**
 * The notes plugin's personal data, described for every privacy tool: kept
 * apart from its handlers (`notes.ts`) so that the store's tests and the CLI
 * can read it without loading grammY.
 *
 * @module
 */
import type {
  DataDeclaration,
  TableDescription,
} from "../../src/base/tables.ts";

/** A person's private notes, one per message they sent with `/note`. */
export const NOTES_ENTRIES: TableDescription = {
  name: "notes_entries",
  record: "note",
  subject: "user",
  userColumn: "user_id",
  key: ["user_id", "note_id"],
  columns: [
    {
      name: "user_id",
      type: "integer",
      meaning: "Whose note it is (their Telegram user id).",
    },
    {
      name: "note_id",
      type: "integer",
      meaning: "The note's number: the id of the message that made it.",
    },
    {
      name: "text",
      type: "text",
      encrypted: true,
      meaning: "The note, as they wrote it.",
    },
    {
      name: "created_at",
      type: "time",
      stamp: "inserted",
      meaning: "When the note was stored.",
    },
  ],
};

/** The one note a member shares with a group (`/note` in the group). */
export const NOTES_SHARED: TableDescription = {
  name: "notes_shared",
  record: "shared note",
  subject: "member",
  userColumn: "user_id",
  groupColumn: "chat_id",
  key: ["chat_id", "user_id"],
  columns: [
    {
      name: "chat_id",
      type: "integer",
      meaning: "The group it is shared in (its Telegram chat id).",
    },
    {
      name: "user_id",
      type: "integer",
      meaning: "Who shared it (their Telegram user id).",
    },
    {
      name: "text",
      type: "text",
      encrypted: true,
      meaning: "The shared note.",
    },
    {
      name: "shared_at",
      type: "time",
      stamp: "inserted",
      meaning: "When it was first shared.",
    },
  ],
};

/** Everything the notes plugin stores, and how its tables are made. */
export const NOTES_DATA: DataDeclaration = {
  name: "notes",
  tables: [NOTES_ENTRIES, NOTES_SHARED],
  migrations: {
    sqlite: new URL("./migrations/sqlite/", import.meta.url),
    postgres: new URL("./migrations/postgres/", import.meta.url),
  },
};
