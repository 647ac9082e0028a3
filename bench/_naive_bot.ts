/**
 * Baseline: the straightforward registration bot. Bare grammY in webhook
 * mode plus one `node:sqlite` upsert of the sender per update, in autocommit
 * (WAL, synchronous=FULL), plaintext. Started by `webhook_bench.ts` with
 * BOT_TOKEN, BOT_API_ROOT, PORT, WEBHOOK_SECRET and DB_PATH.
 */
import { DatabaseSync } from "node:sqlite";
import { Bot, webhookCallback } from "grammy";

const env = Deno.env.toObject();
const db = new DatabaseSync(env.DB_PATH!);
db.exec(`
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = FULL;
  CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT,
    language_code TEXT,
    registered_at INTEGER NOT NULL
  );
`);
const upsert = db.prepare(`
  INSERT INTO users (id, username, first_name, last_name, language_code, registered_at)
  VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET
    username = excluded.username,
    first_name = excluded.first_name,
    last_name = excluded.last_name,
    language_code = excluded.language_code
`);

const bot = new Bot(env.BOT_TOKEN!, { client: { apiRoot: env.BOT_API_ROOT } });
bot.use((ctx) => {
  const from = ctx.from;
  if (from === undefined || from.is_bot) return;
  upsert.run(
    from.id,
    from.username ?? null,
    from.first_name,
    from.last_name ?? null,
    from.language_code ?? null,
    Math.floor(Date.now() / 1000),
  );
});
const handle = webhookCallback(bot, "std/http", {
  secretToken: env.WEBHOOK_SECRET,
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: Number(env.PORT), onListen: () => {} },
  (request) => handle(request),
);
Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
db.close();
