import type {
  GroupFields,
  RegistrationPlan,
  Store,
  UserFields,
} from "./store/store.ts";

export type { RegistrationPlan };

/** Options for `Registrar`. */
export interface RegistrarOptions {
  /** How many records the write cache remembers. */
  cacheSize?: number;
  /** How often to ask the store whether another process changed it, in ms. */
  recheckMs?: number;
  /** The clock, in milliseconds; replaceable for tests. */
  now?: () => number;
}

/**
 * Applies registration plans to the store, skipping writes that would not
 * change anything. It remembers what it last wrote for each id (a bounded
 * LRU), and forgets everything when another process (the CLI) changed the
 * store, so a purged user is registered again by their next update.
 */
export class Registrar {
  #store: Store;
  #written = new Map<number, string>();
  #cacheSize: number;
  #recheckMs: number;
  #now: () => number;
  #checkedAt = -Infinity;
  #version: number | undefined;

  /** Builds a registrar writing to `store`. */
  constructor(store: Store, options: RegistrarOptions = {}) {
    this.#store = store;
    this.#cacheSize = options.cacheSize ?? 50_000;
    this.#recheckMs = options.recheckMs ?? 1_000;
    this.#now = options.now ?? Date.now;
  }

  /** Applies one plan; resolves once every needed write is committed. */
  async apply(plan: RegistrationPlan): Promise<void> {
    const nowMs = this.#now();
    if (nowMs - this.#checkedAt >= this.#recheckMs) {
      await this.#recheck(nowMs);
    }
    const now = Math.floor(nowMs / 1000);
    if (plan.user !== undefined) {
      const user = plan.user;
      const key = userKey(user);
      if (this.#changed(user.id, key)) {
        await this.#store.upsertUser(user, now);
        this.#remember(user.id, key);
      }
    }
    if (plan.move !== undefined) {
      const { fromId, toId } = plan.move;
      this.#written.delete(fromId);
      this.#written.delete(toId);
      await this.#store.moveGroup(fromId, toId);
    }
    if (plan.group !== undefined) {
      const group = plan.group;
      const key = groupKey(group);
      if (this.#changed(group.id, key)) {
        await this.#store.upsertGroup(group, now);
        this.#remember(group.id, key);
      }
    }
    if (plan.removeGroupId !== undefined) {
      this.#written.delete(plan.removeGroupId);
      await this.#store.deleteGroup(plan.removeGroupId);
    }
  }

  /** Forgets what was written for an id, after it was deleted elsewhere in the bot. */
  forget(id: number): void {
    this.#written.delete(id);
  }

  #changed(id: number, key: string): boolean {
    const last = this.#written.get(id);
    if (last !== key) return true;
    // Refresh the entry's place so hot senders stay cached.
    this.#written.delete(id);
    this.#written.set(id, key);
    return false;
  }

  #remember(id: number, key: string): void {
    this.#written.delete(id);
    this.#written.set(id, key);
    if (this.#written.size > this.#cacheSize) {
      const oldest = this.#written.keys().next().value;
      if (oldest !== undefined) this.#written.delete(oldest);
    }
  }

  async #recheck(nowMs: number): Promise<void> {
    const version = await this.#store.erasureVersion();
    if (this.#version !== undefined && version !== this.#version) {
      this.#written.clear();
    }
    this.#version = version;
    this.#checkedAt = nowMs;
  }
}

// Ids are unique across both kinds (users positive, groups negative), so one
// map holds both; the key is every stored field but the first sighting.
function userKey(user: UserFields): string {
  return fieldsKey(
    user.username,
    user.first_name,
    user.last_name,
    user.language_code,
  );
}

function groupKey(group: GroupFields): string {
  return fieldsKey(group.username, group.title, group.type);
}

// NUL cannot occur in Telegram names; SOH marks null so that a last name of
// "null" and no last name differ.
function fieldsKey(...fields: (string | null)[]): string {
  return fields.map((field) => field ?? "\u0001").join("\u0000");
}
