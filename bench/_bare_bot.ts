/**
 * Baseline: bare grammY in webhook mode, no middleware, storing nothing.
 * Started by `webhook_bench.ts` with BOT_TOKEN, BOT_API_ROOT, PORT and
 * WEBHOOK_SECRET in its environment.
 */
import { Bot, webhookCallback } from "grammy";

const env = Deno.env.toObject();
const bot = new Bot(env.BOT_TOKEN!, { client: { apiRoot: env.BOT_API_ROOT } });
const handle = webhookCallback(bot, "std/http", {
  secretToken: env.WEBHOOK_SECRET,
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: Number(env.PORT), onListen: () => {} },
  (request) => handle(request),
);
Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
