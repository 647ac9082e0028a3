// The privacy center in a real headless Chromium (Debian's package, driven
// by puppeteer-core; no browser is downloaded), loaded as Telegram loads a
// Mini App: the launch parameters and signed init data in the URL hash.
// Its packages (puppeteer-core, axe-core) are in tests/browser/deno.json
// and its own lockfile, so a fresh start of the bot never installs them;
// tests/mini_app_browser_test.ts runs this file with that configuration.
import assert from "node:assert/strict";
import axe from "axe-core";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { tempDir } from "../_db.ts";
import { postgresUnavailable } from "../_pg.ts";
import {
  ALICE,
  BOB,
  cliExport,
  type Engine,
  GROUP,
  initDataFor,
  type MiniAppServer,
  startMiniApp,
} from "../_mini_app.ts";

const CHROMIUM = "/usr/bin/chromium";
const DARK = {
  bg_color: "#17212b",
  text_color: "#f5f5f5",
  hint_color: "#708499",
  link_color: "#6ab3f3",
  button_color: "#5288c1",
  button_text_color: "#ffffff",
  secondary_bg_color: "#232e3c",
};
const LIGHT = {
  bg_color: "#ffffff",
  text_color: "#000000",
  hint_color: "#707579",
  link_color: "#3390ec",
  button_color: "#3390ec",
  button_text_color: "#ffffff",
  secondary_bg_color: "#f4f4f5",
};

const pgMissing = await postgresUnavailable();
const installed = await Deno.stat(CHROMIUM).then(() => true, () => false);

// The URL Telegram opens: the page, then the launch parameters in the hash.
function launchUrl(
  app: MiniAppServer,
  initData: string,
  theme: Record<string, string>,
): string {
  const hash = new URLSearchParams({
    tgWebAppData: initData,
    tgWebAppVersion: "7.10",
    tgWebAppPlatform: "tdesktop",
    tgWebAppThemeParams: JSON.stringify(theme),
  });
  return `${app.origin}/app#${hash}`;
}

async function withBrowser(
  work: (browser: Browser) => Promise<void>,
): Promise<void> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Tests run as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  try {
    await work(browser);
  } finally {
    await browser.close();
  }
}

// A test with a seeded privacy center and a browser; skipped where
// Debian's chromium is not installed.
// With `bothEngines`, once on SQLite and once on PostgreSQL (skipped,
// saying why, without a server; under CI=true that fails instead).
function browserTest(
  name: string,
  work: (
    context: { app: MiniAppServer; browser: Browser; dir: string },
  ) => Promise<void>,
  options: { bothEngines?: boolean } = {},
): void {
  const engines: Engine[] = options.bothEngines
    ? ["sqlite", "postgres"]
    : ["sqlite"];
  for (const engine of engines) {
    Deno.test({
      name: options.bothEngines
        ? `${name} (${engine === "sqlite" ? "SQLite" : "PostgreSQL"})`
        : name,
      ignore: !installed || (engine === "postgres" && pgMissing !== undefined),
      // Chromium's pipes and puppeteer's timers outlive a test by design.
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        await using dir = await tempDir();
        await using app = await startMiniApp(dir.path, { engine });
        await withBrowser((browser) => work({ app, browser, dir: dir.path }));
      },
    });
  }
}

async function narrowPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 320, height: 640 });
  return page;
}

// A screenshot for a person to look at; kept out of the repository.
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/privacy_center_screenshots`;
  await Deno.mkdir(dir, { recursive: true });
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: true });
}

async function waitForFile(dir: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".json")) return `${dir}/${entry.name}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("No download arrived");
}

browserTest(
  "in Chromium at 320 px the page shows the stored records in the dark theme, downloads the export and erases after confirmation",
  async ({ app, browser, dir }) => {
    const downloads = `${dir}/downloads`;
    await Deno.mkdir(downloads);
    const page = await narrowPage(browser);
    const blocked: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy/.test(message.text())) {
        blocked.push(message.text());
      }
    });
    const response = await page.goto(
      launchUrl(app, initDataFor(ALICE), DARK),
    );
    assert.match(
      response!.headers()["content-security-policy"]!,
      /script-src 'self'/,
    );
    await page.waitForSelector("section[data-table=users]");
    // The hash (init data) is gone from the address once read.
    assert.equal(new URL(page.url()).hash, "");

    // What is shown is what is stored.
    const shown = await page.$$eval(
      "section",
      (sections) =>
        sections.map((section) => ({
          table: section.getAttribute("data-table"),
          text: section.textContent,
        })),
    );
    assert.deepEqual(shown.map((section) => section.table), [
      "users",
      "notes_entries",
      "notes_shared",
    ]);
    const [user] = await app.store.read("users", { kind: "user", id: ALICE });
    assert.ok(shown[0]!.text!.includes(String(user!.first_name)));
    assert.ok(shown[1]!.text!.includes("alice private"));
    assert.ok(shown[2]!.text!.includes("alice shared"));
    assert.match(
      await page.$eval("#contact", (e) => e.textContent!),
      /privacy@example\.com/,
    );
    assert.match(
      await page.$eval("#first-stored", (e) => e.textContent!),
      /First stored/,
    );

    // Dark theme from the launch parameters; nothing wider than 320 px.
    const look = await page.evaluate(
      `({ background: getComputedStyle(document.body).backgroundColor,
           width: document.documentElement.scrollWidth })`,
    ) as { background: string; width: number };
    assert.equal(look.background, "rgb(23, 33, 43)");
    assert.ok(look.width <= 320, `the page is ${look.width} px wide`);
    await screenshot(page, "dark");

    // A live theme change, as a client sends it.
    await page.evaluate(
      `Telegram.WebView.receiveEvent("theme_changed", { theme_params: ${
        JSON.stringify(LIGHT)
      } })`,
    );
    assert.equal(
      await page.evaluate("getComputedStyle(document.body).backgroundColor"),
      "rgb(255, 255, 255)",
    );
    await screenshot(page, "light");

    // An inline script is refused by the policy.
    await page.evaluate(`{
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
      }`);
    assert.equal(await page.evaluate(`"inlineRan" in window`), false);

    // Download: the page's own fallback (no Telegram client here).
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", {
      behavior: "allow",
      downloadPath: downloads,
    });
    await page.click("#download");
    const file = await waitForFile(downloads);
    await page.waitForSelector("#download-note");
    const downloaded = JSON.parse(await Deno.readTextFile(file));
    delete downloaded.exported_at;
    assert.deepEqual(downloaded, await cliExport(app, ALICE));

    // Erase: the confirmation names what goes, then nothing is left.
    await page.click("#erase");
    const listed = await page.$$eval(
      "#erase-list li",
      (items) => items.map((item) => item.textContent),
    );
    assert.equal(listed.length, 3);
    await page.click("#erase-yes");
    await page.waitForSelector("#done");
    for (const table of app.store.tables) {
      assert.deepEqual(
        await app.store.read(table.name, { kind: "user", id: ALICE }),
        [],
      );
    }
    const audit = await app.store.auditOf({ kind: "user", id: ALICE });
    assert.deepEqual(audit.map((entry) => entry.action).sort(), [
      "export",
      "export",
      "purge",
    ]);
    assert.ok(
      blocked.length > 0,
      "the policy did not report the inline script",
    );
  },
  { bothEngines: true },
);

browserTest(
  "in Chromium, tampered and expired init data show a clear message instead of records",
  async ({ app, browser }) => {
    const page = await narrowPage(browser);
    const tampered = new URLSearchParams(initDataFor(ALICE));
    tampered.set("auth_date", String(Number(tampered.get("auth_date")) + 1));
    const expired = initDataFor(ALICE, {
      authDate: Math.floor(Date.now() / 1000) - 7200,
    });
    for (
      const [initData, message] of [
        [tampered.toString(), /could not confirm who you are/],
        [expired, /opened too long ago/],
      ] as const
    ) {
      await page.goto("about:blank");
      await page.goto(launchUrl(app, initData, LIGHT));
      await page.waitForSelector("#error");
      assert.match(
        await page.$eval("#error", (e) => e.textContent!),
        message,
      );
      assert.equal(await page.$("section"), null);
    }
  },
);

browserTest(
  "in Chromium, axe-core finds no serious or critical accessibility violation in either theme",
  async ({ app, browser }) => {
    for (const theme of [LIGHT, DARK]) {
      const page = await narrowPage(browser);
      // The page's policy refuses injected scripts, axe's too: lifted for
      // this page only (the policy itself is checked above).
      await page.setBypassCSP(true);
      await page.goto(launchUrl(app, initDataFor(ALICE), theme));
      await page.waitForSelector("section[data-table=users]");
      for (const view of ["records", "confirm"]) {
        if (view === "confirm") await page.click("#erase");
        await page.addScriptTag({ content: axe.source });
        const violations = await page.evaluate(
          `axe.run(document, { resultTypes: ["violations"] }).then((r) =>
              r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => v.id + ": " + v.nodes.map((n) => n.target).join(" ")))`,
        ) as string[];
        assert.deepEqual(violations, [], `${theme.bg_color} ${view}`);
      }
      await page.close();
    }
  },
);

browserTest(
  "in Chromium, a group's admin opening the group's link sees the group; a member sees that only admins can",
  async ({ app, browser }) => {
    app.api.members.set(`${GROUP}:${ALICE}`, "administrator");
    app.api.members.set(`${GROUP}:${BOB}`, "member");
    const page = await narrowPage(browser);
    const group = { startParam: `g${GROUP}` };
    await page.goto(launchUrl(app, initDataFor(ALICE, group), LIGHT));
    await page.waitForSelector("section[data-table=groups]");
    assert.match(
      await page.$eval("section[data-table=groups]", (e) => e.textContent!),
      /Readers/,
    );
    await page.goto("about:blank");
    await page.goto(launchUrl(app, initDataFor(BOB, group), LIGHT));
    await page.waitForSelector("#error");
    assert.match(
      await page.$eval("#error", (e) => e.textContent!),
      /admins/,
    );
  },
);
