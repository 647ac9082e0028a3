/**
 * The notes plugin: an example built only through the plugin API, and
 * installed by the tests (not by default). `/note <text>` in a private chat
 * keeps a note, `/notes` lists them, `/note <text>` in a group shares one
 * note with it, and an inline query (`@bot <words>`) offers the person's
 * notes to send. docs/plugins.md walks through it.
 *
 * @module
 */
import type { Composer } from "grammy";
import type { InlineQueryResultArticle } from "grammy/types";
import type { BotContext } from "../../src/bot/context.ts";
import type { Plugin } from "../../src/bot/plugin.ts";
import { NOTES_DATA, NOTES_ENTRIES, NOTES_SHARED } from "./data.ts";

/** The most notes an inline query offers (Telegram takes 50). */
const INLINE_RESULTS = 50;

/** The notes plugin, ready for `plugins.ts`. */
export const notes: Plugin = {
  // Its name, tables and migrations: the part the CLI reads too.
  ...NOTES_DATA,
  updates: ["message", "inline_query"],
  // Plain messages never reach it: they cost it nothing.
  filter: ["message:entities:bot_command", "inline_query"],
  commands: [{ command: "note" }, { command: "notes" }],
  locales: new URL("./locales/", import.meta.url),
  // grammY is loaded here, not at the top: the CLI imports this file for
  // its data and never needs the handlers.
  middleware: async () => handlers((await import("grammy")).Composer),
};

function handlers(
  ComposerClass: typeof Composer<BotContext>,
): Composer<BotContext> {
  const composer = new ComposerClass();
  const inPrivate = composer.chatType("private");
  const inGroups = composer.chatType(["group", "supergroup"]);

  // `/note <text>`: in a private chat a note of one's own, in a group the
  // one note the member shares with it. The write resolves once the note
  // is durably stored (encrypted: the table's description says so); a
  // store failure fails the update, so Telegram sends it again.
  inPrivate.command(
    "note",
    (ctx) =>
      keep(ctx, ctx.match, () =>
        ctx.records.write(NOTES_ENTRIES.name, {
          user_id: ctx.from.id,
          note_id: ctx.msg.message_id,
          text: ctx.match.trim(),
        }), "notes-saved"),
  );

  inGroups.command("note", async (ctx) => {
    // A group's anonymous admin writes as a bot account: nobody to keep it for.
    const from = ctx.from;
    if (from === undefined || from.is_bot) return;
    await keep(ctx, ctx.match, () =>
      ctx.records.write(NOTES_SHARED.name, {
        chat_id: ctx.chat.id,
        user_id: from.id,
        text: ctx.match.trim(),
      }), "notes-shared");
  });

  inPrivate.command("notes", async (ctx) => {
    const rows = await ctx.records.read(NOTES_ENTRIES.name);
    await ctx.reply(
      rows.length === 0 ? ctx.t("notes-none") : ctx.t("notes-list", {
        count: rows.length,
        notes: rows.map((row) => `• ${row.text}`).join("\n"),
      }),
    );
  });

  // A handler for an update that is not a command: it runs because the
  // plugin asks for `inline_query` and lets it through its filter.
  composer.on("inline_query", async (ctx) => {
    const words = ctx.inlineQuery.query.trim().toLowerCase();
    const rows = await ctx.records.read(NOTES_ENTRIES.name);
    const results: InlineQueryResultArticle[] = rows
      .filter((row) => String(row.text).toLowerCase().includes(words))
      .slice(0, INLINE_RESULTS)
      .map((row) => ({
        type: "article",
        id: String(row.note_id),
        title: String(row.text).slice(0, 64),
        input_message_content: { message_text: String(row.text) },
      }));
    // Personal and never cached: the answer is this person's notes now.
    await ctx.answerInlineQuery(results, { cache_time: 0, is_personal: true });
  });
  return composer;
}

// Stores a note (or says how to write one) and confirms it with `done`.
async function keep(
  ctx: BotContext,
  text: string,
  write: () => Promise<void>,
  done: string,
): Promise<void> {
  if (text.trim() === "") {
    await ctx.reply(ctx.t("notes-usage"));
    return;
  }
  await write();
  await ctx.reply(ctx.t(done));
}
