import type { PrivacyStore } from "../store/store.ts";
import type { Plugin } from "../bot/plugin.ts";
import { plural } from "../base/plural.ts";
import { createRedactor } from "../base/redact.ts";
import { CliError, EXIT, usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";

/** What the operator types to confirm `decommission` on a terminal. */
export const DECOMMISSION_PHRASE = "shut down this bot";

/** Options of `decommission`. */
export interface DecommissionOptions {
  /** Do not ask; required when nobody is at a terminal. */
  yes: boolean;
  /** The key file to destroy afterwards (`--destroy-key`), if asked. */
  destroyKey?: string;
  /** Telegram to clean up at, when `BOT_TOKEN` is given. */
  telegram?: { token: string; apiRoot: string };
  /** The installed plugins, whose languages the command menus were set in. */
  plugins: readonly Plugin[];
  io: CliIo;
}

/**
 * The bot's end: erases every record and plugin row and writes the final
 * audit entry (reason `decommission`) in one transaction, then removes the
 * webhook and the command menus at Telegram (with a token), then destroys
 * the key file (with `destroyKey`). It says all of it before asking; with
 * nobody to ask and no `yes`, or a wrong answer, it changes nothing (exit 2).
 */
export async function decommission(
  store: PrivacyStore,
  options: DecommissionOptions,
): Promise<void> {
  const { io } = options;
  if (!options.yes && !io.interactive) {
    throw usageError(
      "Refusing to decommission without --yes when no terminal can confirm it",
    );
  }
  const { rows } = await store.summary();
  const counts = store.tables.map((table) =>
    plural(rows[table.name] ?? 0, table.record)
  ).join(", ");
  const plan = [
    `This erases every record of every table (${counts}) and writes the final audit entry.`,
    options.telegram === undefined
      ? "BOT_TOKEN is not set: the webhook and the command menus at Telegram are left as they are."
      : "Then it removes the webhook and the command menus at Telegram.",
  ];
  if (options.destroyKey !== undefined) {
    plan.push(
      `Then it destroys the key file "${options.destroyKey}": every backup made with this key becomes unreadable, for good.`,
    );
  }
  await io.stderr.write(plan.join("\n") + "\n");
  if (!options.yes) {
    const answer = await io.prompt(
      `Type "${DECOMMISSION_PHRASE}" to go on: `,
    );
    if (answer?.trim() !== DECOMMISSION_PHRASE) {
      throw new CliError("Cancelled: nothing was changed", EXIT.usage);
    }
  }
  let deleted = await store.purge({ kind: "all" }, "cli", {
    reason: "decommission",
  });
  if (deleted === 0) {
    // An empty store still gets its final entry: the end is on record.
    await store.recordAudit({
      actor: "cli",
      action: "purge",
      target: { kind: "all" },
      records: 0,
      reason: "decommission",
    });
    deleted = 0;
  }
  await io.stderr.write(
    `Erased ${plural(deleted, "record")} and wrote the final audit entry\n`,
  );
  const failures = options.telegram === undefined
    ? []
    : await cleanUpTelegram(options.telegram, options.plugins, io);
  if (options.destroyKey !== undefined) {
    await destroyKeyFile(options.destroyKey);
    await io.stderr.write(
      `Destroyed the key file "${options.destroyKey}": backups made with it can no longer be read\n`,
    );
  }
  if (failures.length > 0) {
    throw new CliError(
      `${
        failures.join("; ")
      }; run decommission again or remove them with the Bot API`,
      EXIT.telegram,
    );
  }
}

// Every menu setup may have set: the default one and each language's, for
// every chat, private chats and groups.
const SCOPES = [
  undefined,
  { type: "all_private_chats" as const },
  { type: "all_group_chats" as const },
];

async function cleanUpTelegram(
  telegram: { token: string; apiRoot: string },
  plugins: readonly Plugin[],
  io: CliIo,
): Promise<string[]> {
  const [{ Api }, { createI18n }, { describeApiError }] = await Promise.all([
    import("grammy"),
    import("../bot/i18n.ts"),
    import("../runtime/api_error.ts"),
  ]);
  const redact = createRedactor([telegram.token]);
  const api = new Api(telegram.token, { apiRoot: telegram.apiRoot });
  const failures: string[] = [];
  const attempt = async (call: string, body: () => Promise<unknown>) => {
    try {
      await body();
    } catch (error) {
      failures.push(
        redact(`${call} failed: ${describeApiError(error as Error).reason}`),
      );
    }
  };
  await attempt(
    "deleteWebhook",
    () => api.deleteWebhook({ drop_pending_updates: true }),
  );
  const i18n = createI18n(plugins);
  const languages = [
    undefined,
    ...new Set(
      i18n.locales.slice(1).map((locale) => locale.split("-")[0]!),
    ),
  ];
  for (const language of languages) {
    for (const scope of SCOPES) {
      await attempt(
        `deleteMyCommands (${language ?? "default"}${
          scope === undefined ? "" : `, ${scope.type}`
        })`,
        () =>
          api.deleteMyCommands({
            ...(language === undefined ? {} : { language_code: language }),
            ...(scope === undefined ? {} : { scope }),
          } as never),
      );
    }
  }
  if (failures.length === 0) {
    await io.stderr.write(
      `Removed the webhook and the command menus at Telegram (${
        languages.length * SCOPES.length
      } menus)\n`,
    );
  }
  return failures;
}

// Overwritten with random bytes first, so that the key does not stay in
// the file's old blocks on file systems that write in place.
async function destroyKeyFile(path: string): Promise<void> {
  const size = (await Deno.stat(path)).size;
  await Deno.writeFile(path, crypto.getRandomValues(new Uint8Array(size)));
  await Deno.remove(path);
}
