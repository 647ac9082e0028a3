/**
 * The context every plugin's handlers see: grammY's, with `ctx.t` for
 * messages in the person's language and `ctx.records` for the plugin's
 * personal data.
 *
 * @module
 */
import type { Context } from "grammy";
import type { I18nFlavor } from "@grammyjs/i18n";
import type { Row, SubjectRef } from "../store/store.ts";

/**
 * A plugin's personal data, read and written for the update in hand. Writes
 * and removals join the registration's group commit and carry the update's
 * date, so a row about someone who erased their data after they acted is
 * dropped, as their registration would be.
 */
export interface Records {
  /**
   * The rows of any described table about `subject` (default: the sender
   * as a person), decrypted, in key order. Rejects with `TypeError` for an
   * undescribed table or when there is no sender and no subject.
   */
  read(table: string, subject?: SubjectRef): Promise<Row[]>;
  /**
   * Inserts or updates (by key) a row of one of the plugin's own tables:
   * every column but the stamped ones, plaintext. Resolves once durably
   * committed (or dropped by the erasure rule); rejects with `StoreError`
   * or `WrongKeyError` when the store could not commit it, and then the
   * update is not acknowledged, even if the plugin catches the error.
   */
  write(table: string, row: Row): Promise<void>;
  /** Deletes a row of one of the plugin's own tables by its key columns; settles as `write`. */
  remove(table: string, key: Row): Promise<void>;
}

/** The context flavor that adds `ctx.records`. */
export interface RecordsFlavor {
  /** The current plugin's personal data (see `Records`). */
  records: Records;
}

/** The context every plugin sees. */
export type BotContext = Context & I18nFlavor & RecordsFlavor;
