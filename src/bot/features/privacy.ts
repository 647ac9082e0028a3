import { Composer, GrammyError, InlineKeyboard, InputFile } from "grammy";
import type { RecordRef } from "../../store/audit.ts";
import { RecordNotFoundError, renderExport } from "../../privacy/export.ts";
import { noTelemetry, type Telemetry } from "../../base/telemetry.ts";
import { type BotContext, dateLocale, formatTime } from "../i18n.ts";
import { policyText } from "../policy_text.ts";
import type { Reporter } from "../../base/reporter.ts";
import type {
  PrivacyStore,
  Row,
  SubjectRef,
  TableDescription,
} from "../../store/store.ts";
import type { ColumnDescription } from "../../base/tables.ts";
import { tablesErasedWith } from "../../base/tables.ts";

/** What the privacy feature needs. */
export interface PrivacyOptions {
  store: PrivacyStore;
  reporter: Reporter;
  /** Who users write to with questions, shown in `/privacy`. */
  contact?: string;
  /** A link to the full policy, shown as a button. */
  policyUrl?: string;
  /**
   * Whether crash reports go to the operator's Sentry: the texts say so only
   * then, and otherwise that none are sent.
   */
  crashReports: boolean;
  /** The shortest time between two exports of one record, in ms. */
  exportIntervalMs: number;
  /** The Mini App privacy center, offered as a button when set. */
  miniAppUrl?: string;
  /** Whether blocking the bot erases the person (`ERASE_ON_BLOCK`); default true. */
  eraseOnBlock?: boolean;
  /** Days unseen before the sweep erases a record (`RETENTION_DAYS`), if set. */
  retentionDays?: number;
  /** The clock, in milliseconds; replaceable for tests. */
  now?: () => number;
  /** Where each request is counted and traced; default none. */
  telemetry?: Telemetry;
}

// Telegram's stand-in sender for a group's anonymous admins.
const ANONYMOUS_ADMIN_ID = 1087968824;

// prv:<action>:<kind>:<record id>:<menu opener, 0 for any admin>. Actions:
// x export, d delete (asks), y yes delete, n no. At most 64 bytes.
const CALLBACK = /^prv:([xdyn]):([ug]):(-?\d{1,16}):(\d{1,16})$/;

interface Button {
  action: "x" | "d" | "y" | "n";
  target: RecordRef & { kind: "user" | "group" };
  opener: number;
}

/**
 * `/privacy`: the policy, what is stored about the user (or, for admins in a
 * group, about the group) and buttons to export or delete it. Exports and
 * deletions use the CLI's code and land in the same audit log, as `bot`.
 */
export function privacy(options: PrivacyOptions): Composer<BotContext> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const telemetry = options.telemetry ?? noTelemetry;
  const composer = new Composer<BotContext>();

  composer.chatType("private").command(
    "privacy",
    (ctx) =>
      replyOnFailure(
        ctx,
        () =>
          telemetry.privacy("inspect", "chat", async () => {
            const target = { kind: "user" as const, id: ctx.from.id };
            const parts = [
              policyText(
                (key, variables) => ctx.t(key, variables),
                store.tables,
                options,
              ),
            ];
            if (options.contact !== undefined) {
              parts.push(
                ctx.t("privacy-contact", { contact: options.contact }),
              );
            }
            parts.push(await storedSummary(ctx, store, target));
            await ctx.reply(parts.join("\n\n"), {
              reply_markup: withMiniApp(
                menu(ctx, { target, opener: ctx.from.id }, options.policyUrl),
                ctx,
                options.miniAppUrl,
              ),
            });
          }),
      ),
  );

  composer.chatType(["group", "supergroup"]).command(
    "privacy",
    (ctx) =>
      replyOnFailure(ctx, async () => {
        const anonymous = ctx.message.sender_chat?.id === ctx.chat.id;
        if (!anonymous) {
          const admin = await checkAdmin(ctx, options.reporter);
          if (admin !== true) {
            await ctx.reply(
              ctx.t(
                admin === false ? "privacy-admins-only" : "admin-check-failed",
              ),
            );
            return;
          }
        }
        const target = { kind: "group" as const, id: ctx.chat.id };
        await ctx.reply(
          await storedSummary(ctx, store, target),
          {
            reply_markup: withMiniApp(
              menu(ctx, {
                target,
                // An anonymous admin cannot be told apart: any admin may press.
                opener: anonymous ? 0 : ctx.from.id,
              }, options.policyUrl),
              ctx,
              options.miniAppUrl,
            ),
          },
        );
      }),
  );

  composer.callbackQuery(/^prv:/, async (ctx) => {
    // Every press is answered with a text, so no client is left spinning or
    // guessing, whatever happens.
    let answered = false;
    const answer = async (text: string, alert = false) => {
      answered = true;
      await ctx.answerCallbackQuery({ text, show_alert: alert });
    };
    try {
      const button = parseButton(ctx.callbackQuery.data);
      if (button === undefined) return await answer(ctx.t("button-invalid"));
      if (button.opener !== 0 && button.opener !== ctx.from.id) {
        return await answer(ctx.t("button-not-yours"), true);
      }
      if (button.target.kind === "user" && button.target.id !== ctx.from.id) {
        return await answer(ctx.t("button-invalid"));
      }
      if (button.target.kind === "group") {
        const chat = ctx.chat;
        if (chat === undefined || chat.id !== button.target.id) {
          return await answer(ctx.t("button-invalid"));
        }
        const admin = await checkAdmin(ctx, options.reporter);
        if (admin !== true) {
          return await answer(
            ctx.t(
              admin === false ? "privacy-admins-only" : "admin-check-failed",
            ),
            true,
          );
        }
      }
      switch (button.action) {
        case "x":
          return await answer(
            ...await telemetry.privacy(
              "export",
              "chat",
              () => exportTo(ctx, button),
            ),
          );
        case "d":
          await ctx.editMessageText(
            ctx.t(
              button.target.kind === "user"
                ? "delete-confirm-user"
                : "delete-confirm-group",
            ),
            { reply_markup: confirmation(ctx, button) },
          );
          return await answer(ctx.t("button-answer-confirm"));
        case "y": {
          // The purge raises the erasure counter, so every registrar (this
          // process's too) drops what it remembered: their next update
          // registers them again; this one, already registered, does not.
          const deleted = await telemetry.privacy(
            "erase",
            "chat",
            () => store.purge(button.target, "bot"),
          );
          telemetry.erasure("request", deleted);
          let done = ctx.t(
            button.target.kind === "user"
              ? "delete-done-user"
              : "delete-done-group",
          );
          if (options.crashReports) {
            done += `\n\n${ctx.t("delete-done-sentry")}`;
          }
          await ctx.editMessageText(
            deleted === 0
              ? ctx.t("privacy-nothing-stored", { whom: button.target.kind })
              : done,
          );
          return await answer(ctx.t("button-answer-deleted"));
        }
        case "n":
          await ctx.editMessageText(ctx.t("delete-cancelled"));
          return await answer(ctx.t("delete-cancelled"));
      }
    } finally {
      if (!answered) {
        await ctx.answerCallbackQuery({
          text: ctx.t("button-failed"),
          show_alert: true,
        }).catch(() => {});
      }
    }
  });

  // Buttons of other bots' messages, or of an older menu layout: answered,
  // so the client stops waiting, and otherwise ignored.
  composer.on(
    "callback_query",
    (ctx) => ctx.answerCallbackQuery({ text: ctx.t("button-invalid") }),
  );

  // Sends the export as a JSON file; returns the callback answer.
  async function exportTo(
    ctx: BotContext,
    button: Button,
  ): Promise<[string, boolean]> {
    const { target } = button;
    const last = await store.lastAudit(target, "export", "bot");
    const nextAllowed = last === undefined
      ? 0
      : last * 1000 + options.exportIntervalMs;
    if (now() < nextAllowed) {
      // Shown to the minute, rounded up: asking at the time shown works.
      const time = await timeFor(ctx, Math.ceil(nextAllowed / 60_000) * 60);
      return [ctx.t("export-too-soon", { time }), true];
    }
    let document;
    try {
      document = await renderExport(store, target, {
        now: Math.floor(now() / 1000),
      });
    } catch (error) {
      if (error instanceof RecordNotFoundError) {
        return [ctx.t("privacy-nothing-stored", { whom: target.kind }), true];
      }
      throw error;
    }
    try {
      await ctx.api.sendDocument(
        target.kind === "user" ? ctx.from!.id : target.id,
        new InputFile(
          new TextEncoder().encode(document.text),
          `privacy-export-${target.kind}-${target.id}.json`,
        ),
        { caption: ctx.t("export-caption", { whom: target.kind }) },
      );
    } catch (error) {
      options.reporter.report(error, ctx.update);
      return [ctx.t("export-failed"), true];
    }
    // Recorded only once delivered, so a failed send does not count against
    // the rate limit.
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target,
      records: document.records,
    });
    return [ctx.t("export-sent"), false];
  }

  return composer;
}

function parseButton(data: string): Button | undefined {
  const match = CALLBACK.exec(data);
  if (match === null) return undefined;
  const id = Number(match[3]);
  const opener = Number(match[4]);
  if (!Number.isSafeInteger(id) || !Number.isSafeInteger(opener)) {
    return undefined;
  }
  return {
    action: match[1] as Button["action"],
    target: { kind: match[2] === "u" ? "user" : "group", id },
    opener,
  };
}

function callbackData(button: Button): string {
  return `prv:${button.action}:${
    button.target.kind === "user" ? "u" : "g"
  }:${button.target.id}:${button.opener}`;
}

function menu(
  ctx: BotContext,
  button: Omit<Button, "action">,
  policyUrl: string | undefined,
): InlineKeyboard {
  const kind = button.target.kind;
  const keyboard = new InlineKeyboard()
    .text(
      ctx.t(`button-export-${kind}`),
      callbackData({ ...button, action: "x" }),
    )
    .text(
      ctx.t(`button-delete-${kind}`),
      callbackData({ ...button, action: "d" }),
    );
  if (policyUrl !== undefined) {
    keyboard.row().url(ctx.t("button-policy"), policyUrl);
  }
  return keyboard;
}

// The privacy center's button: a web_app button in a private chat; in a
// group (where Telegram refuses web_app buttons) a t.me link whose startapp
// parameter names the group, which the page checks admins against.
function withMiniApp(
  keyboard: InlineKeyboard,
  ctx: BotContext,
  url: string | undefined,
): InlineKeyboard {
  if (url === undefined) return keyboard;
  const text = ctx.t("button-open-app");
  if (ctx.chat?.type === "private") return keyboard.row().webApp(text, url);
  return keyboard.row().url(
    text,
    `https://t.me/${ctx.me.username}?startapp=g${ctx.chat!.id}`,
  );
}

function confirmation(ctx: BotContext, button: Button): InlineKeyboard {
  return new InlineKeyboard()
    .text(ctx.t("button-yes-delete"), callbackData({ ...button, action: "y" }))
    .text(ctx.t("button-no-keep"), callbackData({ ...button, action: "n" }));
}

/**
 * Whether the sender is an admin (or the creator) of the current chat: true,
 * false, or "unknown" when Telegram could not be asked; that failure is
 * reported.
 */
async function checkAdmin(
  ctx: BotContext,
  reporter: Reporter,
): Promise<boolean | "unknown"> {
  const userId = ctx.from?.id;
  // Telegram's stand-in for anonymous admins cannot be asked about; their
  // menus are open to every admin instead.
  if (userId === undefined || userId === ANONYMOUS_ADMIN_ID) return false;
  let member;
  try {
    member = await ctx.getChatMember(userId);
  } catch (error) {
    reporter.report(error, ctx.update);
    return "unknown";
  }
  return member.status === "creator" || member.status === "administrator";
}

// A command whose work failed still gets a reply, unless sending the reply
// is what failed. The error goes on to the error boundary to be reported.
async function replyOnFailure(
  ctx: BotContext,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof GrammyError && error.method === "sendMessage")) {
      await ctx.reply(ctx.t("command-failed")).catch(() => {});
    }
    throw error;
  }
}

// A moment in the person's language (see `formatTime`).
async function timeFor(ctx: BotContext, unixSeconds: number): Promise<string> {
  const locale = dateLocale(
    ctx.from?.language_code,
    await ctx.i18n.getLocale(),
  );
  return formatTime(unixSeconds, locale);
}

/**
 * What is stored about the person or group right now, in their language,
 * table by table as the descriptions say: a table holding one row per
 * subject (users, groups, a setting) shows each column; a table holding
 * many (notes) shows how many. For a group it also counts what members
 * stored within it, which deleting the group deletes too. Stays short
 * whatever is stored: the export has the rest.
 */
async function storedSummary(
  ctx: BotContext,
  store: PrivacyStore,
  subject: SubjectRef,
): Promise<string> {
  const lines: string[] = [];
  for (const table of tablesErasedWith(store.tables, subject.kind)) {
    const rows = await store.read(table.name, subject);
    if (rows.length === 0) continue;
    if (table.key.length === 1) {
      for (const column of table.columns) {
        // The day seen exists only with a retention period: without one it
        // is no field of the record, and is not listed as an empty one.
        if (column.name === "seen_on" && rows[0]![column.name] === null) {
          continue;
        }
        lines.push(
          `- ${columnLabel(ctx, table, column)}: ${await shownValue(
            ctx,
            column,
            rows[0]!,
          )}`,
        );
      }
    } else {
      lines.push(`- ${rowsLabel(ctx, table, rows.length)}`);
    }
  }
  if (lines.length === 0) {
    return ctx.t("privacy-nothing-stored", { whom: subject.kind });
  }
  return [ctx.t("privacy-stored", { whom: subject.kind }), ...lines].join(
    "\n",
  );
}

// A locale's text for `key`, or undefined when no locale has it (the
// i18n plugin then answers the key in braces).
function translated(
  ctx: BotContext,
  key: string,
  variables?: Record<string, string | number>,
): string | undefined {
  const text = ctx.t(key, variables);
  return text === `{${key}}` ? undefined : text;
}

// `privacy-column-<table>-<column>` from the locales (the plugin's own for
// its tables), else the column's name.
function columnLabel(
  ctx: BotContext,
  table: TableDescription,
  column: ColumnDescription,
): string {
  return translated(ctx, `privacy-column-${table.name}-${column.name}`) ??
    column.name.replaceAll("_", " ");
}

// `privacy-rows-<table>` with the count, else the kind of row and count.
function rowsLabel(
  ctx: BotContext,
  table: TableDescription,
  count: number,
): string {
  return translated(ctx, `privacy-rows-${table.name}`, { count }) ??
    `${table.record}: ${count}`;
}

async function shownValue(
  ctx: BotContext,
  column: ColumnDescription,
  row: Row,
): Promise<string> {
  const value = row[column.name] ?? null;
  if (value === null) return ctx.t("privacy-none");
  if (column.type === "time") return await timeFor(ctx, value as number);
  return String(value);
}
