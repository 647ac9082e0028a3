import { Composer } from "grammy";
import type { BotContext } from "../i18n.ts";

/** The `/start` and `/help` commands, in the sender's language. */
export function help(): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  // In a group, /privacy is for the admins and the group's record: people
  // are sent to a private chat with the bot for their own.
  const inGroup = composer.chatType(["group", "supergroup"]);
  inGroup.command(
    "start",
    (ctx) => ctx.reply(ctx.t("start-group", { bot: `@${ctx.me.username}` })),
  );
  inGroup.command(
    "help",
    (ctx) => ctx.reply(ctx.t("help-group", { bot: `@${ctx.me.username}` })),
  );
  composer.command("start", (ctx) => ctx.reply(ctx.t("start")));
  composer.command("help", (ctx) => ctx.reply(ctx.t("help")));
  return composer;
}
