import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Update } from "grammy/types";
import { type ApiCall, FakeBotApi } from "./_fake_bot_api.ts";
import { execDb, openTestStore, readDb, tempDir } from "./_db.ts";
import { SentryIngest } from "./_sentry_ingest.ts";
import {
  runCliProcess,
  type RunningProgram,
  startMain,
  TEST_TOKEN,
} from "./_main_process.ts";
import {
  callback,
  group,
  message,
  privateChat,
  user,
  withId,
} from "./_updates.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

const SECRET = "privacy_test_secret";
const command = (text: string) => ({
  text,
  entities: [{
    type: "bot_command" as const,
    offset: 0,
    length: text.split(" ")[0]!.length,
  }],
});

interface Harness {
  api: FakeBotApi;
  bot: RunningProgram;
  dbPath: string;
  /** Posts an update to the webhook; resolves once it was fully handled. */
  send(update: Omit<Update, "update_id">): Promise<void>;
  /** The calls of `method` made while `action` ran. */
  during(method: string, action: () => Promise<void>): Promise<ApiCall[]>;
  stop(): Promise<void>;
}

async function startBot(
  dir: string,
  env: Record<string, string> = {},
  options: { script?: string } = {},
): Promise<Harness> {
  const api = new FakeBotApi();
  const dbPath = `${dir}/bot.db`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    ...env,
  }, { script: options.script });
  const [, port] = await bot.waitForLine(/on port (\d+)/);
  let nextId = 1;
  const send = async (update: Omit<Update, "update_id">) => {
    const res = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: "POST",
      body: JSON.stringify(withId(update, nextId++)),
      headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
    });
    await res.body?.cancel();
    assert.equal(res.status, 200, bot.stderr);
  };
  return {
    api,
    bot,
    dbPath,
    send,
    async during(method, action) {
      const before = api.calls.length;
      await action();
      return api.calls.slice(before).filter((call) => call.method === method);
    },
    async stop() {
      bot.kill("SIGTERM");
      const status = await bot.exit();
      await api.close();
      assert.equal(status.code, 0, bot.stderr);
    },
  };
}

type Keyboard = { text: string; callback_data?: string; url?: string }[][];

function buttons(call: ApiCall | undefined): Keyboard {
  return (call?.params.reply_markup as
    | { inline_keyboard: Keyboard }
    | undefined)?.inline_keyboard ?? [];
}

function answerOf(calls: ApiCall[]): { text?: string; show_alert?: boolean } {
  assert.equal(
    calls.length,
    1,
    "the button press was not answered exactly once",
  );
  return calls[0]!.params as { text?: string; show_alert?: boolean };
}

const zoe = user(4001, {
  username: "zoe",
  first_name: "Zoë",
  last_name: "Z",
  language_code: "en",
});
const zoeChat = privateChat(zoe);

Deno.test("/privacy in a private chat shows the policy, the user's record and the buttons", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path, {
    PRIVACY_POLICY_URL: "https://example.org/privacy",
    PRIVACY_CONTACT: "@operator",
  });
  try {
    const [reply] = await h.during(
      "sendMessage",
      () => h.send(message(zoe, zoeChat, command("/privacy"))),
    );
    const text = reply?.params.text as string;
    assert.match(text, /^Privacy policy \(short version\)/);
    assert.match(text, /Questions go to the operator of this bot: @operator/);
    assert.match(
      text,
      /Stored about you right now:\n- id: 4001\n- username: zoe\n- first name: Zoë\n- last name: Z\n- language: en\n- first seen: [A-Z][a-z]+ \d{1,2}, \d{4} at \d\d:\d\d UTC$/,
    );
    assert.deepEqual(buttons(reply), [
      [
        { text: "Export my data", callback_data: "prv:x:u:4001:4001" },
        { text: "Delete my data", callback_data: "prv:d:u:4001:4001" },
      ],
      [{ text: "Full privacy policy", url: "https://example.org/privacy" }],
    ]);
  } finally {
    await h.stop();
  }
});

Deno.test("export sends the CLI's JSON document as a file, at most once an hour", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  try {
    await h.send(message(zoe, zoeChat, command("/privacy")));
    let first: ApiCall[] = [];
    const answered = await h.during("answerCallbackQuery", async () => {
      first = await h.during(
        "sendDocument",
        () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
      );
    });
    assert.equal(answerOf(answered).text, "Your export is on its way.");
    assert.equal(first.length, 1);
    assert.equal(first[0]!.params.chat_id, "4001");
    const file = await h.api.fileOf(first[0]!, "document");
    assert.equal(file.name, "privacy-export-user-4001.json");
    const document = JSON.parse(file.text);
    const cli = JSON.parse(
      (await runCliProcess([
        "--database",
        h.dbPath,
        "export",
        "--user",
        "4001",
      ])).stdout,
    );
    assert.deepEqual({ ...document, exported_at: "" }, {
      ...cli,
      exported_at: "",
    });
    assert.deepEqual(document.users[0].username, "zoe");

    const again = await h.during("answerCallbackQuery", async () => {
      const more = await h.during(
        "sendDocument",
        () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
      );
      assert.deepEqual(more, [], "a second file was sent inside the hour");
    });
    const answer = answerOf(again);
    assert.equal(answer.show_alert, true);
    assert.match(
      answer.text ?? "",
      /^You already asked for an export recently\. You can ask again from [A-Z][a-z]+ \d{1,2}, \d{4} at \d\d:\d\d UTC\.$/,
    );

    const inspect = await runCliProcess(["--database", h.dbPath, "inspect"]);
    assert.match(
      inspect.stdout,
      / bot {2}export {2}user +1 record +subject [0-9a-f]{32}\n/,
    );
  } finally {
    await h.stop();
  }
});

Deno.test("a file that cannot be sent is reported, the user told, and the limit not used up", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  try {
    h.api.failures.set("sendDocument", {
      status: 400,
      description: "Bad Request: file too big",
    });
    const answered = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
    );
    assert.deepEqual(answerOf(answered), {
      callback_query_id: answered[0]!.params.callback_query_id,
      text: "Sorry, the file could not be sent. Please try again later.",
      show_alert: true,
    });
    assert.match(
      h.bot.stderr,
      /error: handling update \d+ failed in plugin "privacy": GrammyError: Call to 'sendDocument' failed!/,
    );
    h.api.failures.delete("sendDocument");
    const sent = await h.during(
      "sendDocument",
      () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
    );
    assert.equal(sent.length, 1);
  } finally {
    await h.stop();
  }
});

Deno.test("delete asks first; no keeps the record; yes deletes it and only a later update registers again", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  try {
    await h.send(message(zoe, zoeChat, command("/privacy")));
    let edits = await h.during(
      "editMessageText",
      () => h.send(callback(zoe, zoeChat, "prv:d:u:4001:4001")),
    );
    assert.equal(
      edits[0]?.params.text,
      "Delete everything this bot stores about you? This cannot be undone.",
    );
    assert.deepEqual(buttons(edits[0]), [[
      { text: "Yes, delete", callback_data: "prv:y:u:4001:4001" },
      { text: "No, keep it", callback_data: "prv:n:u:4001:4001" },
    ]]);

    edits = await h.during(
      "editMessageText",
      () => h.send(callback(zoe, zoeChat, "prv:n:u:4001:4001")),
    );
    assert.equal(edits[0]?.params.text, "Nothing was deleted.");
    assert.equal((await readDb(h.dbPath)).users.length, 1);

    const answers = await h.during("answerCallbackQuery", async () => {
      edits = await h.during(
        "editMessageText",
        () => h.send(callback(zoe, zoeChat, "prv:y:u:4001:4001")),
      );
    });
    answerOf(answers);
    assert.equal(
      edits[0]?.params.text,
      "Done: your data is deleted. If you use this bot again, it will register you again.",
    );
    // The confirming press itself did not register Zoë again.
    assert.deepEqual((await readDb(h.dbPath)).users, []);
    const cli = await runCliProcess([
      "--database",
      h.dbPath,
      "export",
      "--user",
      "4001",
    ]);
    assert.equal(cli.code, 1);
    const inspect = await runCliProcess(["--database", h.dbPath, "inspect"]);
    assert.match(inspect.stdout, / bot {2}purge {3}user +1 record +subject /);

    await h.send(message(zoe, zoeChat));
    assert.deepEqual((await readDb(h.dbPath)).users.map((u) => u.id), [4001]);
  } finally {
    await h.stop();
  }
});

Deno.test("in a group, admins get the group's menu and others a polite refusal", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  const admin = user(5001, { language_code: "en" });
  const member = user(5002, { language_code: "en" });
  const chat = group(-700, "Garden club");
  h.api.members.set("-700:5001", "administrator");
  try {
    let replies = await h.during(
      "sendMessage",
      () => h.send(message(member, chat, command("/privacy"))),
    );
    assert.match(
      replies[0]?.params.text as string,
      /^Only the admins of this group can see, export or delete the group's data\./,
    );
    assert.deepEqual(buttons(replies[0]), []);

    replies = await h.during(
      "sendMessage",
      () => h.send(message(admin, chat, command("/privacy"))),
    );
    assert.match(
      replies[0]?.params.text as string,
      /^Stored about this group right now:\n- id: -700\n- username: [^\n]+\n- title: Garden club\n/,
    );
    assert.deepEqual(buttons(replies[0])[0]!.map((b) => b.callback_data), [
      "prv:x:g:-700:5001",
      "prv:d:g:-700:5001",
    ]);

    // Someone else pressing the admin's button.
    let answers = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(member, chat, "prv:d:g:-700:5001")),
    );
    assert.equal(
      answerOf(answers).text,
      "This menu belongs to someone else: send /privacy to open your own.",
    );

    const sent = await h.during(
      "sendDocument",
      () => h.send(callback(admin, chat, "prv:x:g:-700:5001")),
    );
    assert.equal(sent[0]?.params.chat_id, "-700");
    assert.deepEqual(
      JSON.parse((await h.api.fileOf(sent[0]!, "document")).text).groups[0]
        .title,
      "Garden club",
    );

    // An anonymous admin's menu: any admin may press it, nobody else.
    const anonymous = user(1087968824, {
      is_bot: true,
      first_name: "Group",
      username: "GroupAnonymousBot",
    });
    replies = await h.during(
      "sendMessage",
      () =>
        h.send(
          message(anonymous, chat, {
            ...command("/privacy"),
            sender_chat: { id: -700, type: "group", title: "Garden club" },
          }),
        ),
    );
    assert.deepEqual(buttons(replies[0])[0]!.map((b) => b.callback_data), [
      "prv:x:g:-700:0",
      "prv:d:g:-700:0",
    ]);
    answers = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(member, chat, "prv:y:g:-700:0")),
    );
    assert.match(
      answerOf(answers).text ?? "",
      /^Only the admins of this group/,
    );
    assert.equal((await readDb(h.dbPath)).groups.length, 1);

    await h.send(callback(admin, chat, "prv:y:g:-700:0"));
    assert.deepEqual((await readDb(h.dbPath)).groups, []);
  } finally {
    await h.stop();
  }
});

Deno.test("forged and foreign buttons are answered and change nothing", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  const mallory = user(6001, { language_code: "en" });
  try {
    await h.send(message(zoe, zoeChat));
    const presses: [string, string][] = [
      [
        "prv:y:u:4001:4001",
        "This menu belongs to someone else: send /privacy to open your own.",
      ],
      [
        "prv:y:u:4001:6001",
        "This button is no longer valid: send /privacy again.",
      ],
      [
        "prv:y:g:-700:6001",
        "This button is no longer valid: send /privacy again.",
      ],
      [
        "prv:q:u:6001:6001",
        "This button is no longer valid: send /privacy again.",
      ],
      [
        "something-else",
        "This button is no longer valid: send /privacy again.",
      ],
    ];
    for (const [data, expected] of presses) {
      const answers = await h.during(
        "answerCallbackQuery",
        () => h.send(callback(mallory, privateChat(mallory), data)),
      );
      assert.equal(answerOf(answers).text, expected, data);
    }
    assert.deepEqual((await readDb(h.dbPath)).users.map((u) => u.id), [
      4001,
      6001,
    ]);
    assert.deepEqual(h.api.callsOf("editMessageText"), []);
    assert.deepEqual(h.api.callsOf("sendDocument"), []);
  } finally {
    await h.stop();
  }
});

Deno.test("/start speaks English, Brazilian Portuguese, and English for unknown languages", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  try {
    const cases: [string | undefined, RegExp][] = [
      ["en", /^Hello! I am a registration bot/],
      ["pt-br", /^Olá! Sou um bot de registro/],
      ["pt", /^Olá! Sou um bot de registro/],
      ["xx", /^Hello! I am a registration bot/],
      [undefined, /^Hello! I am a registration bot/],
    ];
    let id = 7000;
    for (const [language, pattern] of cases) {
      const sender = user(
        id++,
        language === undefined ? {} : { language_code: language },
      );
      const [reply] = await h.during(
        "sendMessage",
        () => h.send(message(sender, privateChat(sender), command("/start"))),
      );
      assert.match(reply?.params.text as string, pattern, String(language));
    }
    const portuguese = user(7100, { language_code: "pt-br" });
    const [reply] = await h.during(
      "sendMessage",
      () =>
        h.send(
          message(portuguese, privateChat(portuguese), command("/privacy")),
        ),
    );
    assert.match(
      reply?.params.text as string,
      /^Política de privacidade \(versão curta\)/,
    );
    assert.deepEqual(buttons(reply)[0]!.map((b) => b.text), [
      "Exportar meus dados",
      "Apagar meus dados",
    ]);
  } finally {
    await h.stop();
  }
});

Deno.test("when getChatMember fails, the group /privacy and its buttons still get an answer", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  const admin = user(5001, { language_code: "en" });
  const brazilian = user(5002, { language_code: "pt-br" });
  const chat = group(-700, "Garden club");
  h.api.members.set("-700:5001", "administrator");
  h.api.members.set("-700:5002", "administrator");
  h.api.failures.set("getChatMember", {
    status: 500,
    description: "Internal Server Error",
  });
  try {
    let replies = await h.during(
      "sendMessage",
      () => h.send(message(admin, chat, command("/privacy"))),
    );
    assert.equal(replies.length, 1, "the command got no reply");
    assert.equal(
      replies[0]!.params.text,
      "I could not check your admin rights just now. Please try again.",
    );
    assert.deepEqual(buttons(replies[0]), []);
    replies = await h.during(
      "sendMessage",
      () => h.send(message(brazilian, chat, command("/privacy"))),
    );
    assert.equal(
      replies[0]?.params.text,
      "Não consegui verificar seus direitos de administrador agora. Tente de novo.",
    );
    assert.match(
      h.bot.stderr,
      /error: handling update \d+ failed in plugin "privacy": GrammyError: Call to 'getChatMember' failed!/,
    );

    const answers = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(admin, chat, "prv:x:g:-700:5001")),
    );
    assert.deepEqual(answerOf(answers), {
      callback_query_id: answers[0]!.params.callback_query_id,
      text: "I could not check your admin rights just now. Please try again.",
      show_alert: true,
    });
    assert.deepEqual(h.api.callsOf("sendDocument"), []);

    // Once Telegram answers again, so does the menu.
    h.api.failures.delete("getChatMember");
    replies = await h.during(
      "sendMessage",
      () => h.send(message(admin, chat, command("/privacy"))),
    );
    assert.match(replies[0]?.params.text as string, /^Stored about this group/);
  } finally {
    await h.stop();
  }
});

Deno.test("every button press is answered with a text, also when its work fails", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  try {
    await h.send(message(zoe, zoeChat, command("/privacy")));
    const texts: (string | undefined)[] = [];
    for (const data of ["prv:d:u:4001:4001", "prv:n:u:4001:4001"]) {
      const answers = await h.during(
        "answerCallbackQuery",
        () => h.send(callback(zoe, zoeChat, data)),
      );
      texts.push(answerOf(answers).text);
    }
    assert.deepEqual(texts, ["Please confirm below.", "Nothing was deleted."]);

    h.api.failures.set("editMessageText", {
      status: 400,
      description: "Bad Request: message to edit not found",
    });
    const answers = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(zoe, zoeChat, "prv:d:u:4001:4001")),
    );
    assert.deepEqual(answerOf(answers), {
      callback_query_id: answers[0]!.params.callback_query_id,
      text: "Sorry, something went wrong. Please try again later.",
      show_alert: true,
    });
    assert.match(
      h.bot.stderr,
      /error: handling update \d+ failed in plugin "privacy": GrammyError: Call to 'editMessageText' failed!/,
    );
    h.api.failures.delete("editMessageText");

    const deleted = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(zoe, zoeChat, "prv:y:u:4001:4001")),
    );
    assert.equal(answerOf(deleted).text, "Deleted.");
  } finally {
    await h.stop();
  }
});

Deno.test("a group's creator is an admin, also when posting anonymously and pressing the anonymous menu", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  const creator = user(5003, { language_code: "en" });
  const chat = group(-701, "Founders");
  h.api.members.set("-701:5003", "creator");
  try {
    let replies = await h.during(
      "sendMessage",
      () => h.send(message(creator, chat, command("/privacy"))),
    );
    assert.match(
      replies[0]?.params.text as string,
      /^Stored about this group right now:\n- id: -701\n/,
    );
    assert.deepEqual(buttons(replies[0])[0]!.map((b) => b.callback_data), [
      "prv:x:g:-701:5003",
      "prv:d:g:-701:5003",
    ]);

    // Posting as the group, the creator's menu is open to every admin; the
    // press itself comes from the creator's own account.
    const anonymous = user(1087968824, {
      is_bot: true,
      first_name: "Group",
      username: "GroupAnonymousBot",
    });
    replies = await h.during(
      "sendMessage",
      () =>
        h.send(
          message(anonymous, chat, {
            ...command("/privacy"),
            sender_chat: { id: -701, type: "group", title: "Founders" },
          }),
        ),
    );
    assert.deepEqual(buttons(replies[0])[0]!.map((b) => b.callback_data), [
      "prv:x:g:-701:0",
      "prv:d:g:-701:0",
    ]);
    let sent: ApiCall[] = [];
    const answers = await h.during("answerCallbackQuery", async () => {
      sent = await h.during(
        "sendDocument",
        () => h.send(callback(creator, chat, "prv:x:g:-701:0")),
      );
    });
    assert.equal(answerOf(answers).text, "Your export is on its way.");
    assert.equal(sent[0]?.params.chat_id, "-701");

    // A press Telegram attributes to the anonymous stand-in itself cannot be
    // checked, so it is refused, with a text.
    const refused = await h.during(
      "answerCallbackQuery",
      () => h.send(callback(anonymous, chat, "prv:y:g:-701:0")),
    );
    assert.match(
      answerOf(refused).text ?? "",
      /^Only the admins of this group/,
    );
    assert.equal((await readDb(h.dbPath)).groups.length, 1);
  } finally {
    await h.stop();
  }
});

Deno.test("the export limit ends after PRIVACY_EXPORT_INTERVAL_MINUTES", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path, { PRIVACY_EXPORT_INTERVAL_MINUTES: "1" });
  const press = () =>
    h.during(
      "sendDocument",
      () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
    );
  try {
    await h.send(message(zoe, zoeChat));
    assert.equal((await press()).length, 1);
    assert.deepEqual(await press(), [], "a second file came within the minute");
    // A minute passes, as far as the audit log can tell.
    execDb(h.dbPath, "UPDATE audit_log SET at = at - 60");
    assert.equal((await press()).length, 1, "the limit did not end");
  } finally {
    await h.stop();
  }
});

Deno.test("PRIVACY_EXPORT_INTERVAL_MINUTES=0 means no export limit", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path, { PRIVACY_EXPORT_INTERVAL_MINUTES: "0" });
  try {
    await h.send(message(zoe, zoeChat));
    for (let i = 0; i < 3; i++) {
      const sent = await h.during(
        "sendDocument",
        () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
      );
      assert.equal(sent.length, 1, `export ${i + 1} was refused`);
    }
  } finally {
    await h.stop();
  }
});

// What a person is told about crash reports: the policy in /privacy, their
// own deletion, and a group admin's deletion of the group's record.
async function crashReportTexts(h: Harness, language: string) {
  const person = user(language === "en" ? 8001 : 8002, {
    language_code: language,
  });
  const chat = privateChat(person);
  const [policy] = await h.during(
    "sendMessage",
    () => h.send(message(person, chat, command("/privacy"))),
  );
  const [deleted] = await h.during(
    "editMessageText",
    () =>
      h.send(
        callback(person, chat, `prv:y:u:${person.id}:${person.id}`),
      ),
  );
  const room = group(language === "en" ? -801 : -802, "Crash course");
  h.api.members.set(`${room.id}:${person.id}`, "administrator");
  await h.send(message(person, room));
  const [groupDeleted] = await h.during(
    "editMessageText",
    () => h.send(callback(person, room, `prv:y:g:${room.id}:${person.id}`)),
  );
  return {
    policy: policy?.params.text as string,
    deleted: deleted?.params.text as string,
    groupDeleted: groupDeleted?.params.text as string,
  };
}

Deno.test("without SENTRY_DSN, /privacy and the deletion messages say no crash report is sent, in every language", async () => {
  await using dir = await tempDir();
  const h = await startBot(dir.path);
  try {
    const en = await crashReportTexts(h, "en");
    assert.match(
      en.policy,
      /\n\nCrash reports: none are sent anywhere\. If something goes wrong while handling your message, the error is noted only in the operator's own log\.\n\n/,
    );
    assert.equal(
      en.deleted,
      "Done: your data is deleted. If you use this bot again, it will register you again.",
    );
    assert.equal(
      en.groupDeleted,
      "Done: this group's data is deleted. The group is registered again if the bot stays and sees new messages here.",
    );
    const pt = await crashReportTexts(h, "pt-br");
    assert.match(
      pt.policy,
      /\n\nRelatórios de erro: nenhum é enviado a lugar nenhum\. Se algo der errado ao tratar sua mensagem, o erro fica anotado só no log do próprio operador\.\n\n/,
    );
    assert.equal(
      pt.deleted,
      "Pronto: seus dados foram apagados. Se você usar este bot de novo, ele vai te registrar de novo.",
    );
    assert.match(
      pt.groupDeleted,
      /^Pronto: os dados deste grupo foram apagados/,
    );
    for (const text of [...Object.values(en), ...Object.values(pt)]) {
      assert.doesNotMatch(text, /Sentry/, text);
    }
  } finally {
    await h.stop();
  }
});

Deno.test("with SENTRY_DSN, /privacy and the deletion messages say crash reports go to the operator's Sentry, in every language", async () => {
  await using dir = await tempDir();
  const ingest = new SentryIngest();
  const h = await startBot(dir.path, { SENTRY_DSN: ingest.dsn });
  try {
    const en = await crashReportTexts(h, "en");
    assert.match(
      en.policy,
      /\n\nCrash reports: if something goes wrong while handling your message, the operator's Sentry receives the error and the Telegram update that caused it/,
    );
    const note =
      "\n\nCrash reports already sent to the operator's Sentry are not in the bot's database: they expire there on their own.";
    assert.equal(
      en.deleted,
      `Done: your data is deleted. If you use this bot again, it will register you again.${note}`,
    );
    assert.match(en.groupDeleted, /^Done: this group's data is deleted\./);
    assert.ok(en.groupDeleted.endsWith(note), en.groupDeleted);
    const pt = await crashReportTexts(h, "pt-br");
    assert.match(
      pt.policy,
      /\n\nRelatórios de erro: se algo der errado ao tratar sua mensagem, o Sentry do operador recebe o erro/,
    );
    assert.equal(
      pt.deleted,
      "Pronto: seus dados foram apagados. Se você usar este bot de novo, ele vai te registrar de novo.\n\nRelatórios de erro já enviados ao Sentry do operador não estão no banco de dados do bot: expiram lá sozinhos.",
    );
    assert.match(
      pt.groupDeleted,
      /\n\nRelatórios de erro já enviados ao Sentry/,
    );
  } finally {
    await h.stop();
    await ingest.close();
  }
});

Deno.test("/start and /help in a group send people to a private chat for their own data, in every language", async () => {
  await using dir = await tempDir();
  // The project's own texts: its plugins only, whatever plugins.ts adds.
  const h = await startBot(dir.path, { TEST_BASE: "core", TEST_PLUGINS: "" }, {
    script: "tests/_plugins_main.ts",
  });
  const chat = group(-900, "Readers");
  try {
    let [reply] = await h.during(
      "sendMessage",
      () =>
        h.send(
          message(user(9001, { language_code: "en" }), chat, command("/start")),
        ),
    );
    let text = reply?.params.text as string;
    assert.match(text, /^Hello! I am a registration bot/);
    assert.match(
      text,
      /To see, export or delete your own data, open a private chat with me \(@test_privacy_bot\) and send \/privacy there\. Admins of this group can send \/privacy here for the group's record\.$/,
    );
    assert.doesNotMatch(text, /^Send \/privacy/m);
    [reply] = await h.during(
      "sendMessage",
      () =>
        h.send(
          message(
            user(9002, { language_code: "pt-br" }),
            chat,
            command("/start"),
          ),
        ),
    );
    text = reply?.params.text as string;
    assert.match(
      text,
      /abra uma conversa privada comigo \(@test_privacy_bot\) e envie \/privacy lá\. Os admins deste grupo podem enviar \/privacy aqui para o registro do grupo\.$/,
    );
    assert.doesNotMatch(text, /^Envie \/privacy/m);

    [reply] = await h.during(
      "sendMessage",
      () =>
        h.send(
          message(user(9001, { language_code: "en" }), chat, command("/help")),
        ),
    );
    assert.match(
      reply?.params.text as string,
      /\n\/privacy - for this group's admins: the group's record, with buttons to export or delete it\n\nFor your own data, open a private chat with me \(@test_privacy_bot\) and send \/privacy there\.$/,
    );
  } finally {
    await h.stop();
  }
});

Deno.test("dates are written in the person's language, with UTC said", async () => {
  await using dir = await tempDir();
  // 2026-11-29T14:00:00Z, the first sighting of everyone below.
  const T0 = 1_795_960_800;
  const people = [
    user(9101, { language_code: "en" }),
    user(9102, { language_code: "en-gb" }),
    user(9103, { language_code: "pt-br" }),
    user(9104, { language_code: "xx" }),
  ];
  const chat = group(-910, "Calendar club");
  const store = await openTestStore(`${dir.path}/bot.db`);
  for (const person of people) {
    await registerUser(store, {
      id: person.id,
      username: null,
      first_name: person.first_name,
      last_name: null,
      language_code: person.language_code ?? null,
    }, T0);
  }
  await registerGroup(store, {
    id: chat.id,
    username: null,
    title: chat.title,
    type: "group",
  }, T0);
  await store.close();
  const h = await startBot(dir.path);
  try {
    const seen: string[] = [];
    for (const person of people) {
      const [reply] = await h.during(
        "sendMessage",
        () => h.send(message(person, privateChat(person), command("/privacy"))),
      );
      seen.push(
        /(?:first seen|visto pela primeira vez): (.*)$/.exec(
          reply?.params.text as string,
        )?.[1] ?? "",
      );
    }
    assert.deepEqual(seen, [
      "November 29, 2026 at 14:00 UTC",
      "29 November 2026 at 14:00 UTC",
      "29 de novembro de 2026 às 14:00 UTC",
      "November 29, 2026 at 14:00 UTC",
    ]);

    const brazilian = people[2]!;
    h.api.members.set(`${chat.id}:${brazilian.id}`, "administrator");
    const [reply] = await h.during(
      "sendMessage",
      () => h.send(message(brazilian, chat, command("/privacy"))),
    );
    assert.match(
      reply?.params.text as string,
      /\n- visto pela primeira vez: 29 de novembro de 2026 às 14:00 UTC$/,
    );

    // An export dated 2100-01-01T00:00:00Z: the next is allowed an hour on.
    const chatOf = privateChat(brazilian);
    await h.send(
      callback(brazilian, chatOf, `prv:x:u:${brazilian.id}:${brazilian.id}`),
    );
    execDb(h.dbPath, "UPDATE audit_log SET at = 4102444800");
    const answers = await h.during(
      "answerCallbackQuery",
      () =>
        h.send(
          callback(
            brazilian,
            chatOf,
            `prv:x:u:${brazilian.id}:${brazilian.id}`,
          ),
        ),
    );
    assert.equal(
      answerOf(answers).text,
      "Você já pediu uma exportação há pouco. Pode pedir de novo a partir de 1 de janeiro de 2100 às 01:00 UTC.",
    );
  } finally {
    await h.stop();
  }
});

Deno.test("with the notes plugin, /privacy counts the person's notes, the export holds them and deleting erases them", async () => {
  await using dir = await tempDir();
  // main.ts with the example notes plugin installed after the project's own.
  const h = await startBot(dir.path, { TEST_PLUGINS: "notes" }, {
    script: "tests/_plugins_main.ts",
  });
  try {
    // /help lists the plugin's commands after the project's own.
    const [helped] = await h.during(
      "sendMessage",
      () => h.send(message(zoe, zoeChat, command("/help"))),
    );
    assert.match(
      helped?.params.text as string,
      /\/privacy - [^\n]*\n[\s\S]*\n\nThe features installed in this bot add:\n\/note - Keep a note \(in a group: share one\)\n\/notes - List your notes$/,
    );
    await h.send(message(zoe, zoeChat, command("/note apple")));
    await h.send(message(zoe, zoeChat, command("/note banana")));
    await h.send(
      message(zoe, group(-800, "Readers"), command("/note cherry all")),
    );
    const [reply] = await h.during(
      "sendMessage",
      () => h.send(message(zoe, zoeChat, command("/privacy"))),
    );
    const text = reply?.params.text as string;
    assert.match(text, /Stored about you right now:\n- id: 4001\n/);
    assert.match(
      text,
      /\n- first seen: [^\n]+\n- notes: 2\n- notes shared in groups: 1$/,
    );
    // The short policy says what the plugin keeps, not "nothing else".
    assert.doesNotMatch(text, /Nothing else is kept: no message text/);
    assert.match(
      text,
      /What the features installed in this bot keep, and why:\n- your notes [^\n]*\n- the note you share in a group[^\n]*\n/,
    );
    assert.doesNotMatch(
      text,
      /apple|banana|cherry/,
      "no note text in /privacy",
    );

    const [sent] = await h.during(
      "sendDocument",
      () => h.send(callback(zoe, zoeChat, "prv:x:u:4001:4001")),
    );
    const document = JSON.parse((await h.api.fileOf(sent!, "document")).text);
    assert.deepEqual(
      document.notes_entries.map((note: { text: string }) => note.text),
      ["apple", "banana"],
    );
    assert.deepEqual(
      document.notes_shared.map((note: { chat_id: number }) => note.chat_id),
      [-800],
    );

    await h.send(callback(zoe, zoeChat, "prv:y:u:4001:4001"));
    const left = new DatabaseSync(h.dbPath);
    try {
      for (const table of ["notes_entries", "notes_shared"]) {
        assert.deepEqual(
          left.prepare(`SELECT user_id FROM ${table}`).all(),
          [],
          `${table} still holds Zoë's rows`,
        );
      }
    } finally {
      left.close();
    }
  } finally {
    await h.stop();
  }
});
