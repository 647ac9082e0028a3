import { Composer, type Context } from "grammy";
import { privacyText } from "./messages.ts";

/** Options for the privacy feature. */
export interface PrivacyOptions {
  /** Who users write to for a copy or erasure, shown in `/privacy`. */
  contact?: string;
}

/** The `/privacy` command: the policy as Telegram's developer terms require. */
export function privacy(options: PrivacyOptions = {}): Composer<Context> {
  const composer = new Composer<Context>();
  const text = privacyText(options.contact);
  composer.command("privacy", (ctx) => ctx.reply(text));
  return composer;
}
