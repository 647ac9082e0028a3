/**
 * The exit codes of both programs, the bot (`main.ts`) and the CLI
 * (`cli.ts`): each number means one thing in either, so that a service
 * manager, a script or a person reads them alike.
 *
 * @module
 */

/** Every exit code either program uses, by what it means. */
export const EXIT = {
  /** Done; for the bot, a clean stop (SIGINT or SIGTERM at any moment). */
  ok: 0,
  /** The CLI: no record with that id is stored (or, for `audit`, no entry). */
  notFound: 1,
  /** Bad configuration or usage, one line naming it; nothing was changed. */
  usage: 2,
  /**
   * The database cannot be opened, read or written, and waiting will not
   * change that (a wrong key, a file that is not this bot's database, a full
   * disk or read-only file system for the CLI's files).
   */
  store: 3,
  /** The database stayed out of reach at start: try again later. */
  unreachable: 4,
  /**
   * Stored data is damaged: the CLI left damaged records out (each named);
   * the bot stopped polling on a store failure that will not mend.
   */
  damaged: 5,
  /** The bot: Telegram refused the token, or stayed out of reach at start. */
  telegram: 6,
  /** A failure neither program expected (a bug); the log says what. */
  unexpected: 70,
} as const;
