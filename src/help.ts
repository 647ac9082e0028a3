import { Composer, type Context } from "grammy";
import { HELP_TEXT, START_TEXT } from "./messages.ts";

/** The `/start` and `/help` commands. */
export function help(): Composer<Context> {
  const composer = new Composer<Context>();
  composer.command("start", (ctx) => ctx.reply(START_TEXT));
  composer.command("help", (ctx) => ctx.reply(HELP_TEXT));
  return composer;
}
