import type { Store } from "../store/store.ts";
import type { CliIo } from "./io.ts";

/** Options of `setup`. */
export interface SetupOptions {
  /** The environment, for BOT_TOKEN, BOT_API_ROOT, WEBHOOK_URL, WEBHOOK_SECRET. */
  env: Readonly<Record<string, string | undefined>>;
  io: CliIo;
}

/**
 * The one-time Bot API calls: stores the bot's profile, sets the command
 * menus and, with WEBHOOK_URL, the webhook. Placeholder for now.
 */
export function setup(_store: Store, _options: SetupOptions): Promise<void> {
  return Promise.reject(new Error("setup is not built yet"));
}
