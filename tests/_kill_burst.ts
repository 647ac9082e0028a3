import type { WebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

const CONNECTIONS = 40;
const KILL_AFTER = 400;

/** What a burst cut short by a kill saw. */
export interface KillBurst {
  /** The senders whose update was answered 200, so must be stored. */
  confirmed: number[];
  /** Requests refused or cut off by the kill. */
  refused: number;
  /** Whether the kill came during the burst. */
  killed: boolean;
}

/**
 * Sends new senders over forty connections and kills the bot with SIGKILL
 * once 400 were answered; the bot and its fake Bot API are gone after.
 */
export async function killDuringBurst(hook: WebhookBot): Promise<KillBurst> {
  const confirmed: number[] = [];
  let refused = 0;
  let killed = false;
  let nextId = 100_000;
  try {
    // Each connection sends new senders one after another until the bot is
    // gone; it is killed once KILL_AFTER were answered.
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = 0; i < 10_000; i++) {
          const id = nextId++;
          const sender = user(id);
          let status: number;
          try {
            status = await hook.post(
              withId(message(sender, privateChat(sender)), id),
            );
          } catch {
            refused++;
            return; // The bot is gone.
          }
          if (status === 200) confirmed.push(id);
          else refused++;
          if (confirmed.length >= KILL_AFTER && !killed) {
            killed = true;
            hook.bot.kill("SIGKILL");
          }
        }
      }),
    );
  } finally {
    hook.bot.kill("SIGKILL");
    await hook.bot.exit();
    await hook.api.close();
  }
  return { confirmed, refused, killed };
}
