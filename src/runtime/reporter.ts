import type { Update } from "grammy/types";
import type { SentryConfig } from "../config/config.ts";
import type { Logger } from "../base/log.ts";
import { redactDeep, type Redactor } from "../base/redact.ts";

export type { Reporter, ReportOptions } from "../base/reporter.ts";
import type { Reporter, ReportOptions } from "../base/reporter.ts";

/** Options for `createReporter`. */
export interface ReporterOptions {
  log: Logger;
  redact: Redactor;
}

// The default of 3 would cut an update (update.message.from.id is four deep).
const NORMALIZE_DEPTH = 10;

type SentryModule = typeof import("@sentry/deno");

/**
 * Builds the reporter: a log line always, and a Sentry event when Sentry is
 * configured. Without `sentry` nothing is sent anywhere, and the Sentry SDK
 * is not even loaded: it is a sizeable share of the start-up time. With it,
 * the SDK loads in the background; reports made meanwhile wait for it.
 */
export function createReporter(
  sentry: SentryConfig | undefined,
  options: ReporterOptions,
): Reporter {
  const { log, redact } = options;
  let client: Promise<SentryModule | undefined> = Promise.resolve(undefined);
  if (sentry !== undefined) {
    client = import("@sentry/deno").then((Sentry) => {
      initSentry(Sentry, sentry, redact);
      return Sentry;
    }).catch((error) => {
      log.error(
        `crash reports are off: the Sentry SDK could not be loaded: ${
          (error as Error).message
        }`,
      );
      return undefined;
    });
  }
  return {
    report(error, update, options = {}) {
      log.error(describe(error, update, options), "update.failed");
      if (sentry === undefined) return;
      void client.then((Sentry) =>
        Sentry && capture(Sentry, error, update, options)
      );
    },
    async flush(timeoutMs = 2000) {
      const Sentry = await client;
      if (Sentry !== undefined) await Sentry.flush(timeoutMs);
    },
  };
}

function initSentry(
  Sentry: SentryModule,
  sentry: SentryConfig,
  redact: Redactor,
): void {
  Sentry.init({
    dsn: sentry.dsn,
    environment: sentry.environment,
    release: sentry.release,
    normalizeDepth: NORMALIZE_DEPTH,
    sendDefaultPii: false,
    // Events, breadcrumbs (including request URLs with /bot<token>/) and
    // messages all pass through the redactor before they leave.
    beforeSend: (event) => redactDeep(event, redact),
    beforeBreadcrumb: (breadcrumb) => redactDeep(breadcrumb, redact),
  });
}

function capture(
  Sentry: SentryModule,
  error: unknown,
  update: Update | undefined,
  options: ReportOptions,
): void {
  Sentry.withScope((scope) => {
    if (options.plugin !== undefined) scope.setTag("plugin", options.plugin);
    const ids = idsOf(update);
    if (ids.userId !== undefined) scope.setUser({ id: String(ids.userId) });
    if (ids.chatId !== undefined) {
      scope.setTag("chat_id", String(ids.chatId));
    }
    if (update !== undefined) {
      scope.setTag("update_id", String(update.update_id));
      scope.setExtra("update", update);
    }
    Sentry.captureException(error);
  });
}

function describe(
  error: unknown,
  update: Update | undefined,
  options: ReportOptions,
): string {
  const where = update === undefined
    ? "outside an update"
    : `handling update ${update.update_id}`;
  const stack = error instanceof Error
    ? error.stack ?? error.message
    : String(error);
  const plugin = options.plugin === undefined
    ? ""
    : ` in plugin "${options.plugin}"`;
  return `${where} failed${plugin}: ${stack}`;
}

interface UpdateIds {
  userId?: number;
  chatId?: number;
}

// Reads the sender and chat without knowing the update's kind: every kind
// keeps them in the same fields, one level down.
function idsOf(update: Update | undefined): UpdateIds {
  if (update === undefined) return {};
  for (const [key, value] of Object.entries(update)) {
    if (key === "update_id" || typeof value !== "object" || value === null) {
      continue;
    }
    const payload = value as {
      from?: { id: number };
      user?: { id: number };
      chat?: { id: number };
      message?: { chat?: { id: number } };
    };
    return {
      userId: payload.from?.id ?? payload.user?.id,
      chatId: payload.chat?.id ?? payload.message?.chat?.id,
    };
  }
  return {};
}
