import { Composer } from "grammy";
import type { BotContext } from "../i18n.ts";

/** The `/start` and `/help` commands, in the sender's language. */
export function help(): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command("start", (ctx) => ctx.reply(ctx.t("start")));
  composer.command("help", (ctx) => ctx.reply(ctx.t("help")));
  return composer;
}
