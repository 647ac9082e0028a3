import { FakeBotApi } from "./_fake_bot_api.ts";
import {
  programEnv,
  RunningProgram,
  startMain,
  taskFlags,
  TEST_TOKEN,
} from "./_main_process.ts";
import type { Update } from "grammy/types";

/** The webhook secret of the bots these tests start. */
export const SECRET = "e2e_webhook_secret";

/** A bot started in webhook mode on a free port, with its fake Bot API. */
export interface WebhookBot {
  bot: RunningProgram;
  api: FakeBotApi;
  /** The bot's process id, when started through `shell`. */
  pid?: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Posts an update to the webhook route; resolves with the status. */
  post(update: Update): Promise<number>;
  /** `GET /healthz`'s status. */
  health(): Promise<number>;
  /** SIGTERM, then waits for the exit and closes the fake Bot API. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Options for `startWebhookBot`. */
export interface WebhookBotOptions {
  /** More environment variables. */
  env?: Record<string, string>;
  /**
   * Shell commands run before `exec deno run … main.ts` (e.g. `trap '' XFSZ;`),
   * which make the bot a child of `sh` that then becomes the bot itself.
   */
  shell?: string;
  /** The script to run instead of `main.ts` (without `shell`). */
  script?: string;
}

/** Starts `main.ts` in webhook mode on the SQLite file at `path`. */
export async function startWebhookBot(
  path: string,
  options: WebhookBotOptions = {},
): Promise<WebhookBot> {
  const api = new FakeBotApi();
  const env = {
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${path}`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    ...options.env,
  };
  let bot: RunningProgram;
  let pid: number | undefined;
  if (options.shell === undefined) {
    bot = await startMain(env, { script: options.script });
  } else {
    const flags = (await taskFlags("start")).join(" ");
    const child = new Deno.Command("sh", {
      args: ["-c", `${options.shell} exec deno run ${flags} main.ts`],
      cwd: new URL("../", import.meta.url),
      clearEnv: true,
      env: programEnv(env),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    pid = child.pid;
    bot = new RunningProgram(child);
  }
  let base: string;
  try {
    const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
    base = `http://127.0.0.1:${port}`;
  } catch (error) {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
    throw error;
  }
  return {
    bot,
    api,
    pid,
    base,
    async post(update) {
      const res = await fetch(`${base}/webhook`, {
        method: "POST",
        body: JSON.stringify(update),
        headers: {
          "content-type": "application/json",
          "X-Telegram-Bot-Api-Secret-Token": SECRET,
        },
      });
      await res.body?.cancel();
      return res.status;
    },
    async health() {
      const res = await fetch(`${base}/healthz`);
      await res.body?.cancel();
      return res.status;
    },
    async stop() {
      bot.kill("SIGTERM");
      const status = await bot.exit();
      await api.close();
      return status;
    },
  };
}
