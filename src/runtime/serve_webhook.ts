/**
 * The running process: how updates arrive (`polling.ts`, `webhook.ts`,
 * this HTTP server), the checks on each update, start-up (opening the
 * database, the bot's profile, the one-time Bot API calls), stopping,
 * logging outages and reporting errors. Only `main.ts` and the CLI are
 * above it.
 *
 * @module
 */
import type { Logger } from "../base/log.ts";

/** Where `serveWebhook` listens and what it says once it does. */
export interface ServeWebhookOptions {
  hostname: string;
  port: number;
  /** The route Telegram posts to, named in the start line. */
  path: string;
  /** The bot's username, named in the start line. */
  username: string;
  log: Logger;
  /** The stop: the server then shuts down. */
  signal: AbortSignal;
}

/**
 * Serves the webhook handler until the stop, then shuts down gracefully:
 * it stops accepting and waits for the requests in hand, each of which
 * answers only after its update is stored.
 */
export async function serveWebhook(
  handler: (request: Request) => Promise<Response>,
  options: ServeWebhookOptions,
): Promise<void> {
  const { log, signal } = options;
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: ({ hostname, port }) =>
      log.info(
        `@${options.username} is running in webhook mode on port ${port} (address ${hostname}), route ${options.path}`,
        "bot.started",
      ),
  }, (request) => handler(request));
  const shutdown = () => server.shutdown();
  signal.addEventListener("abort", shutdown, { once: true });
  if (signal.aborted) shutdown();
  await server.finished;
}
