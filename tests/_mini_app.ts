// The privacy center on loopback for the tests: a real SQLite file with
// the notes plugin's tables, the fake Bot API (for admin checks), the
// bot's catalogs, and a Deno.serve server answering /app.
import { Api } from "grammy";
import { createMiniApp } from "../src/app/mini_app.ts";
import { signInitData } from "../src/app/init_data.ts";
import { createI18n } from "../src/bot/i18n.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { openNotesStore } from "./_notes.ts";
import { TEST_TOKEN } from "./_main_process.ts";
import type { SqliteStore } from "../src/store/sqlite/sqlite_store.ts";

/** Alice, who keeps notes and shares one in the group. */
export const ALICE = 1;
/** Bob, a member of the group. */
export const BOB = 2;
/** The group. */
export const GROUP = -1001;

/** A running privacy center and what it stands on. */
export interface MiniAppServer extends AsyncDisposable {
  /** The server's origin, e.g. http://127.0.0.1:1234. */
  origin: string;
  store: SqliteStore;
  api: FakeBotApi;
  path: string;
  /** Lines the reporter was told (must never hold personal data). */
  reported: string[];
}

/** Seeds `dir/bot.db` and serves the privacy center over it. */
export async function startMiniApp(
  dir: string,
  options: { exportIntervalMs?: number; maxAgeSeconds?: number } = {},
): Promise<MiniAppServer> {
  const path = `${dir}/bot.db`;
  const store = await openNotesStore(path);
  const person = (id: number, name: string, language: string) => ({
    id,
    username: null,
    first_name: name,
    last_name: null,
    language_code: language,
  });
  const group = {
    id: GROUP,
    username: null,
    title: "Readers",
    type: "supergroup" as const,
  };
  await store.register([{
    user: person(ALICE, "Alice", "en"),
    group,
    sentAt: 1000,
    writes: [
      {
        table: "notes_entries",
        row: { user_id: ALICE, note_id: 10, text: "alice private" },
      },
      {
        table: "notes_shared",
        row: { chat_id: GROUP, user_id: ALICE, text: "alice shared" },
      },
    ],
  }, { user: person(BOB, "Bob", "pt-br"), group, sentAt: 1000 }], 1000);
  const api = new FakeBotApi();
  const reported: string[] = [];
  const app = createMiniApp({
    store,
    token: TEST_TOKEN,
    api: new Api(TEST_TOKEN, { apiRoot: api.url }),
    i18n: Promise.resolve(createI18n()),
    publicUrl: "https://bot.example.com/app",
    maxAgeSeconds: options.maxAgeSeconds ?? 3600,
    exportIntervalMs: options.exportIntervalMs ?? 3_600_000,
    reporter: {
      report: (error) => void reported.push(String(error)),
      flush: () => Promise.resolve(),
    },
    contact: "privacy@example.com",
    policyUrl: "https://example.com/privacy",
    crashReports: false,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) =>
      await app(request) ?? new Response("Not found", { status: 404 }),
  );
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    store,
    api,
    path,
    reported,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await api.close();
      await store.close();
    },
  };
}

/** Init data for `userId` as Telegram would sign it (now, unless told). */
export function initDataFor(
  userId: number,
  options: {
    token?: string;
    authDate?: number;
    startParam?: string;
    language?: string;
  } = {},
): string {
  const fields: Record<string, string> = {
    query_id: "AAHdF6IQAAAAAN0XohDhrOrc",
    user: JSON.stringify({
      id: userId,
      first_name: userId === ALICE ? "Alice" : "Bob",
      language_code: options.language ?? (userId === ALICE ? "en" : "pt-br"),
    }),
    auth_date: String(options.authDate ?? Math.floor(Date.now() / 1000)),
  };
  if (options.startParam !== undefined) {
    fields.start_param = options.startParam;
  }
  return signInitData(fields, options.token ?? TEST_TOKEN);
}
