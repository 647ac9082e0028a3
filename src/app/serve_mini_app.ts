import type { Logger } from "../base/log.ts";
import type { MiniAppHandler } from "./mini_app.ts";

/** Where the privacy center listens in polling mode. */
export interface ServeMiniAppOptions {
  hostname: string;
  port: number;
  log: Logger;
  /** The stop: the server then shuts down. */
  signal: AbortSignal;
}

/**
 * Serves only the privacy center (polling mode with `MINI_APP_URL`: no
 * webhook shares the server) until the stop; anything else is a 404.
 */
export async function serveMiniApp(
  app: MiniAppHandler,
  options: ServeMiniAppOptions,
): Promise<void> {
  const { signal } = options;
  const server = Deno.serve(
    {
      hostname: options.hostname,
      port: options.port,
      onListen: ({ hostname, port }) =>
        options.log.info(
          `the privacy center is served on port ${port} (address ${hostname}), route /app`,
        ),
    },
    async (request) =>
      await app(request) ?? new Response("Not found", { status: 404 }),
  );
  const shutdown = () => server.shutdown();
  signal.addEventListener("abort", shutdown, { once: true });
  if (signal.aborted) shutdown();
  await server.finished;
}
