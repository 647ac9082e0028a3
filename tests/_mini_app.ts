// The privacy center on loopback for the tests: a real SQLite file with
// the notes plugin's tables, the fake Bot API (for admin checks), the
// bot's catalogs, and a Deno.serve server answering /app.
import { Api } from "grammy";
import { createMiniApp } from "../src/app/mini_app.ts";
import { signInitData } from "../src/app/init_data.ts";
import { createI18n } from "../src/bot/i18n.ts";
import { notes } from "../examples/notes/notes.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { openNotesStore } from "./_notes.ts";
import { runCliProcess, TEST_DATA_KEY, TEST_TOKEN } from "./_main_process.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";
import type { Store } from "../src/store/store.ts";
import { testCipher } from "./_db.ts";
import { createTestDatabase, type TestDatabase } from "./_pg.ts";
import { NOTES_CATALOG } from "./_notes.ts";

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
  store: Store;
  api: FakeBotApi;
  /** The CLI's arguments and environment that name the same database. */
  cli: { args: string[]; env: Record<string, string> };
  /** Lines the reporter was told (must never hold personal data). */
  reported: string[];
}

/** Which engine the privacy center stands on. */
export type Engine = "sqlite" | "postgres";

/**
 * Seeds a database (SQLite `dir/bot.db`, or a fresh PostgreSQL database
 * dropped at the end) and serves the privacy center over it.
 */
export async function startMiniApp(
  dir: string,
  options: { engine?: Engine } = {},
): Promise<MiniAppServer> {
  let store: Store;
  let pg: TestDatabase | undefined;
  let cli: MiniAppServer["cli"];
  if (options.engine === "postgres") {
    pg = await createTestDatabase();
    store = await openPostgresStore(pg.location.connection, {
      cipher: testCipher(),
      catalog: NOTES_CATALOG,
    });
    cli = { args: [], env: { DATABASE_URL: pg.url } };
  } else {
    const path = `${dir}/bot.db`;
    store = await openNotesStore(path);
    cli = { args: ["--database", path], env: {} };
  }
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
    i18n: Promise.resolve(createI18n([notes])),
    publicUrl: "https://bot.example.com/app",
    maxAgeSeconds: 3600,
    exportIntervalMs: 3_600_000,
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
    cli,
    reported,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await api.close();
      await store.close();
      await pg?.drop();
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

/** The CLI's JSON export of `userId` from the same database, less its time. */
export async function cliExport(
  app: MiniAppServer,
  userId: number,
): Promise<unknown> {
  const result = await runCliProcess(
    [...app.cli.args, "export", "--user", String(userId)],
    { DATA_ENCRYPTION_KEY: TEST_DATA_KEY, ...app.cli.env },
    { script: "tests/_notes_cli.ts" },
  );
  if (result.code !== 0) throw new Error(result.stderr);
  const document = JSON.parse(result.stdout);
  delete document.exported_at;
  return document;
}
