/**
 * The error classes every layer shares: a bad setting, and a store that
 * cannot do its work. Kept apart so that configuration, crypto and the
 * store can all use them without importing one another.
 *
 * @module
 */

/** A missing or invalid configuration value; its message is one line for the operator. */
export class ConfigError extends Error {
  /** Builds the error for one variable. */
  constructor(variable: string, expected: string) {
    super(`${variable} ${expected}`);
    this.name = "ConfigError";
  }
}

/** Environment variables as read by the loaders: name to value. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The store could not be opened, migrated or written. */
export class StoreError extends Error {
  /** Wraps the underlying cause with a one-line message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * A failure that trying again will not mend: the same write fails the same
 * way until the operator acts (a damaged database, a constraint the data
 * can never meet). Locks, a full disk and a lost connection are not this.
 */
export class PermanentStoreError extends StoreError {
  /** Wraps the engine's own report. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentStoreError";
  }
}

/**
 * The database itself is damaged (a malformed page, a file that is not a
 * database): trying again will not help; it needs the operator.
 */
export class DamagedStoreError extends PermanentStoreError {
  /** Wraps the engine's own report of the damage. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DamagedStoreError";
  }
}

/**
 * The database's tables do not match what the installed plugins describe:
 * a table nobody described or declared, or a description whose columns
 * differ from the migrated table's. A `ConfigError`, so that the bot and
 * the CLI both stop with exit 2 and this one line.
 */
export class SchemaError extends ConfigError {
  /** Takes the whole one-line message (it names the table and what to do). */
  constructor(message: string) {
    super("", "");
    this.message = message;
    this.name = "SchemaError";
  }
}
