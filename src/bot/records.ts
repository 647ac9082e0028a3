import { WrongKeyError } from "../crypto/field_cipher.ts";
import type { Registrar } from "../registration/registrar.ts";
import {
  type PrivacyStore,
  type RegistrationPlan,
  type Row,
  StoreError,
  type SubjectRef,
} from "../store/store.ts";
import type { Records } from "./context.ts";
import type { Plugin } from "./plugin.ts";

/** What `PluginRecords` needs besides the plugin. */
export interface PluginRecordsOptions {
  registrar: Registrar;
  store: PrivacyStore;
  /** The sender's Telegram id, the default subject of `read`. */
  senderId: number | undefined;
  /** When the person acted (Unix seconds), for the erasure rule; undefined is now. */
  sentAt: number | undefined;
}

/**
 * `ctx.records` for one plugin and one update. It keeps every write and
 * removal the plugin started, so that the update is acknowledged only once
 * all of them are committed, awaited by the plugin or not.
 */
export class PluginRecords implements Records {
  #plugin: Plugin;
  #options: PluginRecordsOptions;
  #started: Promise<void>[] = [];

  /** Records for `plugin`, for the update the options describe. */
  constructor(plugin: Plugin, options: PluginRecordsOptions) {
    this.#plugin = plugin;
    this.#options = options;
  }

  /** Reads through the store (`PrivacyStore.read`). */
  read(table: string, subject?: SubjectRef): Promise<Row[]> {
    const id = this.#options.senderId;
    if (subject === undefined && id === undefined) {
      return Promise.reject(
        new TypeError(
          `Plugin "${this.#plugin.name}" read "${table}" without a subject, in an update without a sender`,
        ),
      );
    }
    return this.#options.store.read(
      table,
      subject ?? { kind: "user", id: id! },
    );
  }

  /** Writes through the registrar's group commit. */
  write(table: string, row: Row): Promise<void> {
    return this.#apply(table, { writes: [{ table, row }] });
  }

  /** Removes through the registrar's group commit. */
  remove(table: string, key: Row): Promise<void> {
    return this.#apply(table, { removals: [{ table, key }] });
  }

  /**
   * Waits for every write and removal started; rejects with the first
   * store failure among them (other failures are the plugin's to see).
   */
  async settled(): Promise<void> {
    const results = await Promise.allSettled(this.#started);
    for (const result of results) {
      if (result.status === "rejected" && isStoreFailure(result.reason)) {
        throw result.reason;
      }
    }
  }

  #apply(table: string, plan: RegistrationPlan): Promise<void> {
    let done: Promise<void>;
    if (!(this.#plugin.tables ?? []).some((t) => t.name === table)) {
      done = Promise.reject(
        new TypeError(
          `Plugin "${this.#plugin.name}" wrote to table "${table}", which it does not describe`,
        ),
      );
    } else {
      const sentAt = this.#options.sentAt;
      done = this.#options.registrar.apply(
        sentAt === undefined ? plan : { ...plan, sentAt },
      ).then(() => {});
    }
    // Marked as handled here: a plugin that does not await its write must
    // not crash the process; `settled` still sees how it ended.
    done.catch(() => {});
    this.#started.push(done);
    return done;
  }
}

/**
 * Whether `error` says the store could not commit (a lock, a full disk, a
 * lost connection, a key it cannot use): the update must come again.
 */
export function isStoreFailure(error: unknown): boolean {
  return error instanceof StoreError || error instanceof WrongKeyError;
}
