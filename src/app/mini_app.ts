/**
 * The Mini App privacy center: a page under `/app` where a person sees,
 * downloads and erases what the bot stores about them (or, for a group's
 * admins, about the group), and the API it calls. Every API call carries
 * `Authorization: tma <init data>`, checked as Telegram specifies; nothing
 * about the person travels in a URL or reaches a log. Above the bot (its
 * catalogs and Bot API client), below the runtime.
 *
 * @module
 */
import type { Api } from "grammy";
import type { I18n } from "@grammyjs/i18n";
import type { BotContext } from "../bot/context.ts";
import { dateLocale, formatTime, negotiateLocale } from "../bot/i18n.ts";
import { policyText } from "../bot/policy_text.ts";
import { RecordNotFoundError, renderExport } from "../privacy/export.ts";
import type { PrivacyStore, Row, TableDescription } from "../store/store.ts";
import type { RecordRef } from "../store/audit.ts";
import { tablesErasedWith } from "../base/tables.ts";
import type { Reporter } from "../base/reporter.ts";
import { noTelemetry, type Telemetry } from "../base/telemetry.ts";
import { type InitData, InitDataError, validateInitData } from "./init_data.ts";
import { staticFile } from "./_static.ts";

/** What the privacy center needs. */
export interface MiniAppOptions {
  store: PrivacyStore;
  /** The bot's token: init data is signed with a key derived from it. */
  token: string;
  /** The Bot API, to ask whether someone administers a group. */
  api: Api;
  /** The bot's message catalogs (every locale it has). */
  i18n: Promise<I18n<BotContext>>;
  /** The public URL of the page (`MINI_APP_URL`), for download links. */
  publicUrl: string;
  /** The oldest accepted init data, in seconds. */
  maxAgeSeconds: number;
  /** The shortest time between two exports of one record, in ms. */
  exportIntervalMs: number;
  reporter: Reporter;
  contact?: string;
  policyUrl?: string;
  /** Whether crash reports go to the operator's Sentry (the policy says so). */
  crashReports: boolean;
  /** Whether blocking the bot erases the person (the policy says so); default true. */
  eraseOnBlock?: boolean;
  /** The retention period in days, if any (the policy says so). */
  retentionDays?: number;
  /** The clock, in milliseconds; replaceable for tests. */
  now?: () => number;
  /** Where each request is counted and traced (channel `mini_app`); default none. */
  telemetry?: Telemetry;
}

/** A handler that answers `/app` and everything below it, else undefined. */
export type MiniAppHandler = (
  request: Request,
) => Promise<Response | undefined>;

/** The page's Content-Security-Policy: nothing from another origin, no inline script. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors https://web.telegram.org",
].join("; ");

// Telegram's stand-in sender for anonymous admins, never a real person.
const ANONYMOUS_ADMIN_ID = 1087968824;
// A download link works once, within this time.
const DOWNLOAD_TTL_MS = 60_000;
// The `startapp` parameter that opens a group's record: g<chat id>.
const GROUP_PARAM = /^g(-?\d{1,16})$/;

interface Download {
  text: string;
  fileName: string;
  expires: number;
}

interface Asker {
  init: InitData;
  target: RecordRef & { kind: "user" | "group" };
  locale: string;
  i18n: I18n<BotContext>;
}

/** Builds the `/app` handler. */
export function createMiniApp(options: MiniAppOptions): MiniAppHandler {
  const { store } = options;
  const now = options.now ?? Date.now;
  const telemetry = options.telemetry ?? noTelemetry;
  const downloads = new Map<string, Download>();
  const base = options.publicUrl.replace(/\/+$/, "");

  return async (request) => {
    const path = new URL(request.url).pathname;
    if (path !== "/app" && !path.startsWith("/app/")) return undefined;
    try {
      if (request.method === "GET") {
        if (path.startsWith("/app/download/")) {
          return takeDownload(path.slice("/app/download/".length));
        }
        if (!path.startsWith("/app/api/")) {
          const file = await staticFile(path);
          return file === undefined
            ? json(404, { error: "Not found" })
            : withHeaders(file);
        }
      }
      if (request.method !== "GET" && request.method !== "POST") {
        return json(405, { error: "Method not allowed" });
      }
      const action = path.slice("/app/api/".length);
      if (!["view", "export", "erase"].includes(action)) {
        return json(404, { error: "Not found" });
      }
      const asked = await asker(request);
      if (asked instanceof Response) return asked;
      if (action === "view") {
        return json(
          200,
          await telemetry.privacy("inspect", "mini_app", () => view(asked)),
        );
      }
      if (request.method !== "POST") {
        return json(405, { error: "Method not allowed" });
      }
      return action === "export"
        ? await telemetry.privacy("export", "mini_app", () => exportFor(asked))
        : await telemetry.privacy("erase", "mini_app", () => erase(asked));
    } catch (error) {
      options.reporter.report(error);
      return json(500, { error: "Something went wrong" });
    }
  };

  // Who asks, about which record, in which language; or the refusal.
  async function asker(request: Request): Promise<Asker | Response> {
    const i18n = await options.i18n;
    const header = request.headers.get("authorization") ?? "";
    const raw = header.startsWith("tma ") ? header.slice(4) : "";
    let init: InitData;
    try {
      init = validateInitData(raw, options.token, {
        maxAgeSeconds: options.maxAgeSeconds,
        now: Math.floor(now() / 1000),
      });
    } catch (error) {
      if (!(error instanceof InitDataError)) throw error;
      // The language asked for is only a preference: reading it from data
      // not yet trusted changes nothing but the words of the refusal.
      const locale = negotiateLocale(unverifiedLanguage(raw), i18n.locales);
      const key = error.reason === "expired"
        ? "app-error-expired"
        : "app-error-unauthorized";
      return json(401, { error: i18n.t(locale, key) });
    }
    const locale = negotiateLocale(
      await chosenLanguage(init.user.id) ?? init.user.languageCode,
      i18n.locales,
    );
    const group = GROUP_PARAM.exec(init.startParam ?? "");
    if (group === null) {
      return { init, target: { kind: "user", id: init.user.id }, locale, i18n };
    }
    const id = Number(group[1]);
    const admin = await isAdmin(id, init.user.id);
    if (admin !== true) {
      const key = admin === false
        ? "privacy-admins-only"
        : "admin-check-failed";
      return json(403, { error: i18n.t(locale, key) });
    }
    return { init, target: { kind: "group", id }, locale, i18n };
  }

  // A language the person chose with the bot (a `language` column of one
  // of their tables, as a plugin may store it), if any.
  async function chosenLanguage(userId: number): Promise<string | undefined> {
    for (const table of store.tables) {
      if (table.subject !== "user") continue;
      if (!table.columns.some((column) => column.name === "language")) continue;
      const [row] = await store.read(table.name, { kind: "user", id: userId });
      const value = row?.language;
      if (typeof value === "string" && value !== "") return value;
    }
    return undefined;
  }

  // The in-chat rule: the creator and administrators (anonymous ones
  // included: Telegram reports their real status to the bot) may act.
  async function isAdmin(
    chatId: number,
    userId: number,
  ): Promise<boolean | "unknown"> {
    if (userId === ANONYMOUS_ADMIN_ID) return false;
    try {
      const member = await options.api.getChatMember(chatId, userId);
      return member.status === "creator" || member.status === "administrator";
    } catch (error) {
      options.reporter.report(error);
      return "unknown";
    }
  }

  async function view(asked: Asker) {
    const { target, locale, i18n } = asked;
    const t = (key: string, variables?: Record<string, string | number>) =>
      i18n.t(locale, key, variables);
    const dates = dateLocale(asked.init.user.languageCode, locale);
    const sections = [];
    let firstStored: number | undefined;
    for (const table of tablesErasedWith(store.tables, target.kind)) {
      const rows = await store.read(table.name, target);
      if (rows.length === 0) continue;
      for (const row of rows) {
        for (const column of table.columns) {
          const value = row[column.name];
          if (column.stamp === "inserted" && typeof value === "number") {
            firstStored = Math.min(firstStored ?? value, value);
          }
        }
      }
      sections.push({
        table: table.name,
        title: tableTitle(i18n, locale, table, rows.length),
        // A group's admins see how many rows its members keep in it, not
        // the rows: those are the members' data (as /privacy counts them).
        rows:
          (target.kind === "group" && table.subject === "member" ? [] : rows)
            .map((row) =>
              table.columns.map((column) => [
                label(i18n, locale, table, column.name),
                shown(row, column.name, column.type, dates, t("privacy-none")),
              ])
            ),
      });
    }
    const whom = target.kind;
    return {
      locale,
      kind: whom,
      sections,
      firstStored: firstStored === undefined
        ? null
        : formatTime(firstStored, dates),
      policyUrl: options.policyUrl ?? null,
      texts: {
        title: t("app-title"),
        stored: t(
          sections.length === 0 ? "privacy-nothing-stored" : "privacy-stored",
          { whom },
        ),
        firstStored: t("app-first-stored"),
        policy: policyText(t, store.tables, options),
        policyLink: t("button-policy"),
        contact: options.contact === undefined
          ? null
          : t("privacy-contact", { contact: options.contact }),
        download: t(`button-export-${whom}`),
        erase: t(`button-delete-${whom}`),
        confirm: t(`delete-confirm-${whom}`),
        confirmList: t("app-erase-list"),
        yes: t("button-yes-delete"),
        no: t("button-no-keep"),
        downloadReady: t("app-download-ready"),
        failed: t("button-failed"),
      },
    };
  }

  async function exportFor(asked: Asker): Promise<Response> {
    const { target, locale, i18n } = asked;
    const last = await store.lastAudit(target, "export", "bot");
    const nextAllowed = last === undefined
      ? 0
      : last * 1000 + options.exportIntervalMs;
    if (now() < nextAllowed) {
      const time = formatTime(
        Math.ceil(nextAllowed / 60_000) * 60,
        dateLocale(asked.init.user.languageCode, locale),
      );
      return json(429, { error: i18n.t(locale, "export-too-soon", { time }) });
    }
    let document;
    try {
      document = await renderExport(store, target, {
        now: Math.floor(now() / 1000),
      });
    } catch (error) {
      if (!(error instanceof RecordNotFoundError)) throw error;
      return json(404, {
        error: i18n.t(locale, "privacy-nothing-stored", { whom: target.kind }),
      });
    }
    // The same entry as the in-bot export: actor `bot` (see PRIVACY.md).
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target,
      records: document.records,
    });
    sweep();
    const token = randomToken();
    const fileName = `privacy-export-${target.kind}-${target.id}.json`;
    downloads.set(token, {
      text: document.text,
      fileName,
      expires: now() + DOWNLOAD_TTL_MS,
    });
    return json(200, {
      url: `${base}/download/${token}`,
      fileName,
    });
  }

  async function erase(asked: Asker): Promise<Response> {
    const { target, locale, i18n } = asked;
    const deleted = await store.purge(target, "bot");
    telemetry.erasure("request", deleted);
    const key = deleted === 0
      ? "privacy-nothing-stored"
      : `delete-done-${target.kind}`;
    return json(200, {
      deleted,
      message: i18n.t(locale, key, { whom: target.kind }),
    });
  }

  function takeDownload(token: string): Response {
    sweep();
    const download = downloads.get(token);
    downloads.delete(token);
    if (download === undefined) return json(404, { error: "Not found" });
    return withHeaders(
      new Response(download.text, {
        headers: {
          "content-type": "application/json; charset=utf-8",
          "content-disposition": `attachment; filename="${download.fileName}"`,
        },
      }),
    );
  }

  function sweep(): void {
    const at = now();
    for (const [token, download] of downloads) {
      if (download.expires <= at) downloads.delete(token);
    }
  }
}

/** Answers `/app` first, then the other handler: the webhook's, say. */
export function withMiniApp(
  app: MiniAppHandler,
  handler: (request: Request) => Promise<Response>,
): (request: Request) => Promise<Response> {
  return async (request) => await app(request) ?? await handler(request);
}

function unverifiedLanguage(raw: string): string | undefined {
  try {
    const user = JSON.parse(new URLSearchParams(raw).get("user") ?? "");
    return typeof user?.language_code === "string"
      ? user.language_code
      : undefined;
  } catch {
    return undefined;
  }
}

function translated(
  i18n: I18n<BotContext>,
  locale: string,
  key: string,
  variables?: Record<string, string | number>,
): string | undefined {
  const text = i18n.t(locale, key, variables);
  return text === key || text === `{${key}}` ? undefined : text;
}

function label(
  i18n: I18n<BotContext>,
  locale: string,
  table: TableDescription,
  column: string,
): string {
  return translated(i18n, locale, `privacy-column-${table.name}-${column}`) ??
    column.replaceAll("_", " ");
}

function tableTitle(
  i18n: I18n<BotContext>,
  locale: string,
  table: TableDescription,
  count: number,
): string {
  return translated(i18n, locale, `privacy-rows-${table.name}`, { count }) ??
    `${table.record}: ${count}`;
}

function shown(
  row: Row,
  column: string,
  type: string,
  locale: string,
  none: string,
): string {
  const value = row[column] ?? null;
  if (value === null) return none;
  if (type === "time") return formatTime(value as number, locale);
  return String(value);
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

function withHeaders(response: Response): Response {
  const headers = response.headers;
  headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
  headers.set("x-content-type-options", "nosniff");
  headers.set("referrer-policy", "no-referrer");
  if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
  return response;
}

function json(status: number, body: unknown): Response {
  return withHeaders(
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8" },
    }),
  );
}
