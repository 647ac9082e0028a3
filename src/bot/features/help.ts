import { Composer } from "grammy";
import type { BotContext } from "../i18n.ts";
import type { PluginCommand } from "../plugin.ts";

/** Options for `help`. */
export interface HelpOptions {
  /** The installed plugins' commands, listed after the project's own. */
  commands?: readonly PluginCommand[];
}

/**
 * The `/start` and `/help` commands, in the sender's language; `/help`
 * also lists the installed plugins' commands offered in that kind of chat,
 * each with its menu description (`cmd-<command>`).
 */
export function help(options: HelpOptions = {}): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const more = (ctx: BotContext, chats: "private" | "groups") => {
    const offered = (options.commands ?? []).filter((command) =>
      (command.scope ?? chats) === chats
    );
    if (offered.length === 0) return "";
    return `\n\n${
      [
        ctx.t("help-plugins"),
        ...offered.map((command) =>
          `/${command.command} - ${ctx.t(`cmd-${command.command}`)}`
        ),
      ].join("\n")
    }`;
  };
  // In a group, /privacy is for the admins and the group's record: people
  // are sent to a private chat with the bot for their own.
  const inGroup = composer.chatType(["group", "supergroup"]);
  inGroup.command(
    "start",
    (ctx) => ctx.reply(ctx.t("start-group", { bot: `@${ctx.me.username}` })),
  );
  inGroup.command(
    "help",
    (ctx) =>
      ctx.reply(
        ctx.t("help-group", { bot: `@${ctx.me.username}` }) +
          more(ctx, "groups"),
      ),
  );
  composer.command("start", (ctx) => ctx.reply(ctx.t("start")));
  composer.command(
    "help",
    (ctx) => ctx.reply(ctx.t("help") + more(ctx, "private")),
  );
  return composer;
}
