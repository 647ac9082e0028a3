import assert from "node:assert/strict";
import { tempDir } from "./_db.ts";
import {
  ALICE,
  BOB,
  cliExport,
  type Engine,
  GROUP,
  initDataFor,
  startMiniApp,
} from "./_mini_app.ts";
import { TEST_TOKEN } from "./_main_process.ts";
import { pgTest } from "./_pg.ts";
import { CONTENT_SECURITY_POLICY } from "../src/app/mini_app.ts";

// A test about stored data runs on SQLite and on PostgreSQL.
function bothEngines(
  title: string,
  body: (engine: Engine) => Promise<void>,
): void {
  Deno.test(`${title} (SQLite)`, () => body("sqlite"));
  pgTest(`${title} (PostgreSQL)`, () => body("postgres"));
}

const OTHER_TOKEN = "987654321:AAHotherBOTtokenPART_0123456789abcd";

function call(
  origin: string,
  action: string,
  initData: string | undefined,
  method = action === "view" ? "GET" : "POST",
): Promise<Response> {
  return fetch(`${origin}/app/api/${action}`, {
    method,
    headers: initData === undefined ? {} : { authorization: `tma ${initData}` },
  });
}

Deno.test("the privacy center page and its files are served with a strict policy and no inline script", async () => {
  await using dir = await tempDir();
  await using app = await startMiniApp(dir.path);
  let total = 0;
  for (
    const path of ["/app", "/app/app.js", "/app/bridge.js", "/app/app.css"]
  ) {
    const response = await fetch(`${app.origin}${path}`);
    const body = await response.text();
    total += body.length;
    assert.equal(response.status, 200, path);
    assert.equal(
      response.headers.get("content-security-policy"),
      CONTENT_SECURITY_POLICY,
    );
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.doesNotMatch(body, /https?:\/\/(?!web\.telegram\.org)/, path);
    if (path === "/app") {
      assert.doesNotMatch(body, /<script(?![^>]*\bsrc=)/);
      assert.doesNotMatch(body, /\son[a-z]+=/);
    }
  }
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.ok(total < 100_000, `the first view is ${total} bytes`);
  assert.equal((await fetch(`${app.origin}/app/nope.js`)).status, 404);
  await (await fetch(`${app.origin}/app/nope.js`)).body?.cancel();
});

bothEngines(
  "the API shows a person every stored record about them, plugin rows included, in their language",
  async (engine) => {
    await using dir = await tempDir();
    await using app = await startMiniApp(dir.path, { engine });
    const response = await call(app.origin, "view", initDataFor(ALICE));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const view = await response.json();
    assert.equal(view.locale, "en");
    assert.equal(view.kind, "user");
    assert.deepEqual(
      view.sections.map((section: { table: string }) => section.table),
      ["users", "notes_entries", "notes_shared"],
    );
    const user = Object.fromEntries(view.sections[0].rows[0]);
    assert.equal(user["first name"], "Alice");
    assert.match(view.firstStored, /1970/);
    assert.match(view.texts.contact, /privacy@example\.com/);
    assert.equal(view.policyUrl, "https://example.com/privacy");
    assert.match(JSON.stringify(view.sections), /alice private/);
    assert.doesNotMatch(JSON.stringify(view), /Bob|bob shared/);

    const bob = await (await call(app.origin, "view", initDataFor(BOB))).json();
    assert.equal(bob.locale, "pt-BR");
    assert.equal(bob.texts.title, "Central de privacidade");
  },
);

Deno.test("tampered, expired, other-bot and missing init data get 401 with a clear message", async () => {
  await using dir = await tempDir();
  await using app = await startMiniApp(dir.path);
  const tampered = new URLSearchParams(initDataFor(ALICE));
  tampered.set("user", JSON.stringify({ id: BOB, first_name: "Bob" }));
  const cases = [
    tampered.toString(),
    initDataFor(ALICE, { authDate: Math.floor(Date.now() / 1000) - 3601 }),
    initDataFor(ALICE, { token: OTHER_TOKEN }),
    undefined,
  ];
  for (const initData of cases) {
    for (const action of ["view", "export", "erase"]) {
      const response = await call(app.origin, action, initData);
      assert.equal(response.status, 401);
      const { error } = await response.json();
      assert.match(error, /open (it|this page|it again)|too long ago/i);
    }
  }
  assert.equal(
    await app.store.purge({ kind: "user", id: ALICE }, "cli") > 0,
    true,
  );
});

bothEngines(
  "download gives the CLI's JSON once, through a single-use link, audited and rate limited",
  async (engine) => {
    await using dir = await tempDir();
    await using app = await startMiniApp(dir.path, { engine });
    const response = await call(app.origin, "export", initDataFor(ALICE));
    assert.equal(response.status, 200);
    const { url, fileName } = await response.json();
    assert.equal(fileName, `privacy-export-user-${ALICE}.json`);
    assert.match(
      url,
      /^https:\/\/bot\.example\.com\/app\/download\/[0-9a-f]{48}$/,
    );
    const local = `${app.origin}${new URL(url).pathname}`;
    const file = await fetch(local);
    assert.equal(file.status, 200);
    assert.equal(
      file.headers.get("content-disposition"),
      `attachment; filename="${fileName}"`,
    );
    const document = await file.json();
    const again = await fetch(local);
    assert.equal(again.status, 404);
    await again.body?.cancel();

    delete document.exported_at;
    assert.deepEqual(document, await cliExport(app, ALICE));

    const audit = await app.store.auditOf({ kind: "user", id: ALICE });
    assert.deepEqual(
      audit.map((entry) => [entry.actor, entry.action, entry.records]),
      [["bot", "export", 3], ["cli", "export", 3]],
    );
    const soon = await call(app.origin, "export", initDataFor(ALICE));
    assert.equal(soon.status, 429);
    assert.match((await soon.json()).error, /already asked for an export/);
  },
);

bothEngines(
  "erase deletes the person's rows in every table and writes the audit entry",
  async (engine) => {
    await using dir = await tempDir();
    await using app = await startMiniApp(dir.path, { engine });
    const response = await call(app.origin, "erase", initDataFor(ALICE));
    assert.equal(response.status, 200);
    const result = await response.json();
    assert.equal(result.deleted, 3);
    assert.match(result.message, /your data is deleted/);
    for (const table of app.store.tables) {
      assert.deepEqual(
        await app.store.read(table.name, { kind: "user", id: ALICE }),
        [],
        table.name,
      );
    }
    const audit = await app.store.auditOf({ kind: "user", id: ALICE });
    assert.deepEqual(
      audit.map((entry) => [entry.actor, entry.action, entry.records]),
      [["bot", "purge", 3]],
    );
    assert.equal(
      (await app.store.read("users", { kind: "user", id: BOB })).length,
      1,
    );
  },
);

bothEngines(
  "a group's admins, the creator included, act on the group from its startapp link; a member cannot",
  async (engine) => {
    await using dir = await tempDir();
    await using app = await startMiniApp(dir.path, { engine });
    const group = { startParam: `g${GROUP}` };
    app.api.members.set(`${GROUP}:${BOB}`, "member");
    const refused = await call(app.origin, "view", initDataFor(BOB, group));
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error, /admin/i);
    assert.equal(
      (await call(app.origin, "erase", initDataFor(BOB, group))).status,
      403,
    );

    app.api.members.set(`${GROUP}:${ALICE}`, "creator");
    const view =
      await (await call(app.origin, "view", initDataFor(ALICE, group)))
        .json();
    assert.equal(view.kind, "group");
    assert.deepEqual(
      view.sections.map((section: { table: string }) => section.table),
      ["groups", "notes_shared"],
    );
    app.api.members.set(`${GROUP}:${BOB}`, "administrator");
    const erased = await (await call(
      app.origin,
      "erase",
      initDataFor(BOB, group),
    )).json();
    assert.equal(erased.deleted, 2);
    assert.equal(
      (await app.store.read("users", { kind: "user", id: ALICE })).length,
      1,
    );
    assert.deepEqual(app.reported, []);
  },
);

Deno.test("init data never travels in a URL: the page reads it from the hash and sends it in a header", async () => {
  const bridge = await Deno.readTextFile(
    new URL("../src/app/static/app.js", import.meta.url),
  );
  assert.match(bridge, /authorization: `tma \$\{tg\.initData\}`/);
  assert.doesNotMatch(bridge, /\?tgWebAppData|\?initData/);
  assert.ok(TEST_TOKEN.length > 0);
});
