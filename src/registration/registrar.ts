import { setImmediate } from "node:timers";
import { noTelemetry, type Telemetry } from "../base/telemetry.ts";
import { dayOf } from "../base/days.ts";
import type {
  GroupFields,
  RegistrationPlan,
  RegistrationStore,
  UserFields,
} from "../store/store.ts";

/** What one update asks the store to do, re-exported for the registrar's callers. */
export type { RegistrationPlan };

/** Options for `Registrar`. */
export interface RegistrarOptions {
  /** How many records the write cache remembers. */
  cacheSize?: number;
  /** The most plans one transaction takes; more wait for the next one. */
  maxBatch?: number;
  /** The clock, in milliseconds; replaceable for tests. */
  now?: () => number;
  /** Where each commit's span, size, duration and failure are told; default none. */
  telemetry?: Telemetry;
  /**
   * Whether a person blocking the bot erases their records (the default);
   * when false the block is ignored (`ERASE_ON_BLOCK=false`).
   */
  eraseOnBlock?: boolean;
  /**
   * Whether a retention period is configured: then each user and group
   * written carries the day it was seen, and a known sender is written
   * again once a day (the first time it is seen that day) to move it.
   */
  retention?: boolean;
}

// How many turns of the event loop a batch may wait for more plans while
// they keep coming.
const MAX_GATHER_TURNS = 8;

interface Pending {
  plan: RegistrationPlan;
  /** With the size of the batch that wrote the plan, or 0 if nothing was written. */
  resolve: (joined: number) => void;
  reject: (error: unknown) => void;
}

/**
 * Applies registration plans (with the plugin rows an update writes or
 * removes) to the store with group commit: plans that
 * arrive while a transaction is being committed wait and go together into
 * the next one, so concurrent updates share one commit and one fsync. Each
 * caller's promise settles with its own batch: it resolves only once that
 * batch is durably committed, and rejects if the batch failed.
 *
 * It remembers what it last wrote for each id (a bounded LRU) and skips
 * writes that would change nothing, so a known sender costs no write and no
 * encryption. Before each batch it reads the store's erasure counter: when
 * any process deleted, moved or purged a record since, the whole cache is
 * dropped, so an erased person's next update registers them again at once.
 */
export class Registrar {
  #store: RegistrationStore;
  #written = new Map<number, string>();
  #cacheSize: number;
  #maxBatch: number;
  #now: () => number;
  #version: number | undefined;
  #eraseOnBlock: boolean;
  #retention: boolean;
  #queue: Pending[] = [];
  #draining = false;
  #telemetry: Telemetry;

  /** Builds a registrar writing to `store`. */
  constructor(store: RegistrationStore, options: RegistrarOptions = {}) {
    this.#store = store;
    this.#cacheSize = options.cacheSize ?? 50_000;
    this.#maxBatch = options.maxBatch ?? 1_000;
    this.#now = options.now ?? Date.now;
    this.#telemetry = options.telemetry ?? noTelemetry;
    this.#eraseOnBlock = options.eraseOnBlock ?? true;
    this.#retention = options.retention ?? false;
  }

  /**
   * Applies one plan; resolves once it is durably committed (or was found
   * unneeded against fresh knowledge of erasures). Calls made in the same
   * turn of the event loop, or while a transaction is in flight, share one
   * transaction. Resolves with the size of the batch that wrote it, or 0
   * when nothing needed writing.
   */
  apply(plan: RegistrationPlan): Promise<number> {
    if (plan.blockedUserId !== undefined && !this.#eraseOnBlock) {
      // The block itself is never a reason to write: it refreshes nothing.
      plan = { ...plan };
      delete plan.blockedUserId;
    }
    if (
      this.#retention && (plan.user !== undefined || plan.group !== undefined)
    ) {
      plan = { ...plan, seenOn: dayOf(this.#now()) };
    }
    // A known sender (the common case) skips the queue when nothing is
    // pending: only the erasure counter is read, no batch is formed.
    if (!this.#draining && this.#queue.length === 0 && this.#cached(plan)) {
      return this.#confirmCached(plan);
    }
    return this.#enqueue(plan);
  }

  #enqueue(plan: RegistrationPlan): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ plan, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        // A microtask later, so that calls made together (Promise.all over
        // apply) are taken as one batch.
        queueMicrotask(() => this.#drain());
      }
    });
  }

  // Whether the plan would write nothing, by the cache alone. A plugin's
  // rows are never cached: they always go to the store.
  #cached(plan: RegistrationPlan): boolean {
    return plan.move === undefined && plan.removeGroupId === undefined &&
      plan.blockedUserId === undefined && !hasRows(plan) &&
      (plan.user === undefined ||
        this.#written.get(plan.user.id) === userKey(plan.user, plan.seenOn)) &&
      (plan.group === undefined ||
        this.#written.get(plan.group.id) === groupKey(plan.group, plan.seenOn));
  }

  // The cache holds only what was committed since the erasure counter was
  // last read; it is trusted only if the counter has not moved since. If it
  // moved, or a batch started meanwhile, the plan goes the usual way: only
  // a batch reads the counter for the cache and updates both together.
  async #confirmCached(plan: RegistrationPlan): Promise<number> {
    if (plan.user === undefined && plan.group === undefined) return 0;
    const version = await this.#store.erasureVersion();
    if (
      version !== this.#version || this.#draining || !this.#cached(plan)
    ) {
      return await this.#enqueue(plan);
    }
    // Refresh the entries' places so hot senders stay cached.
    if (plan.user !== undefined) {
      this.#changed(plan.user.id, userKey(plan.user, plan.seenOn));
    }
    if (plan.group !== undefined) {
      this.#changed(plan.group.id, groupKey(plan.group, plan.seenOn));
    }
    return 0;
  }

  /**
   * Applies several plans (one `getUpdates` batch) in one transaction, as
   * long as they are no more than `maxBatch`; resolves once all are
   * committed (with each plan's `apply` result) and rejects if any batch
   * failed.
   */
  applyAll(plans: readonly RegistrationPlan[]): Promise<number[]> {
    return Promise.all(plans.map((plan) => this.apply(plan)));
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        await this.#gather();
        const batch = this.#queue.splice(0, this.#maxBatch);
        let written: Set<RegistrationPlan>;
        try {
          written = await this.#commit(batch.map((pending) => pending.plan));
        } catch (error) {
          if (batch.length > 1 && refusedPlan(error)) await this.#alone(batch);
          else for (const pending of batch) pending.reject(error);
          continue;
        }
        for (const pending of batch) {
          pending.resolve(written.has(pending.plan) ? written.size : 0);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  // The database refused a value of one plan: each plan goes again in a
  // transaction of its own, so that one bad update does not fail the
  // updates that happened to share its batch.
  async #alone(batch: Pending[]): Promise<void> {
    for (const pending of batch) {
      try {
        const written = await this.#commit([pending.plan]);
        pending.resolve(written.size);
      } catch (error) {
        pending.reject(error);
      }
    }
  }

  // A commit runs on this thread (SQLite's fsync included), so requests that
  // arrived meanwhile have not reached apply() yet when it ends: they get
  // a few turns of the event loop to join, for as long as the queue grows.
  async #gather(): Promise<void> {
    let seen = 0;
    for (
      let turn = 0;
      turn < MAX_GATHER_TURNS && this.#queue.length > seen &&
      this.#queue.length < this.#maxBatch;
      turn++
    ) {
      seen = this.#queue.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  // Returns the plans (as given) that needed writing.
  async #commit(plans: RegistrationPlan[]): Promise<Set<RegistrationPlan>> {
    const version = await this.#store.erasureVersion();
    if (version !== this.#version) this.#written.clear();
    this.#version = version;
    const needed: RegistrationPlan[] = [];
    const written = new Set<RegistrationPlan>();
    // What this batch will write per id, so that the same sender twice in
    // one batch is written once (unless a later one is dated later).
    const pending = new Map<number, { key: string; sentAt: number }>();
    const fresh = (id: number, key: string, sentAt: number) => {
      const queued = pending.get(id);
      if (queued !== undefined) {
        if (queued.key === key && queued.sentAt >= sentAt) return false;
      } else if (!this.#changed(id, key)) {
        return false;
      }
      pending.set(id, { key, sentAt });
      return true;
    };
    for (const plan of plans) {
      const sentAt = plan.sentAt ?? Infinity;
      const reduced: RegistrationPlan = { ...plan };
      if (plan.move !== undefined) {
        pending.delete(plan.move.fromId);
        pending.delete(plan.move.toId);
      }
      if (plan.removeGroupId !== undefined) pending.delete(plan.removeGroupId);
      if (plan.blockedUserId !== undefined) pending.delete(plan.blockedUserId);
      if (
        plan.user !== undefined &&
        !fresh(plan.user.id, userKey(plan.user, plan.seenOn), sentAt)
      ) {
        delete reduced.user;
      }
      if (
        plan.group !== undefined &&
        !fresh(plan.group.id, groupKey(plan.group, plan.seenOn), sentAt)
      ) {
        delete reduced.group;
      }
      if (
        reduced.user !== undefined || reduced.group !== undefined ||
        reduced.move !== undefined || reduced.removeGroupId !== undefined ||
        reduced.blockedUserId !== undefined || hasRows(reduced)
      ) {
        needed.push(reduced);
        written.add(plan);
      }
    }
    if (needed.length === 0) return written;
    const register = () =>
      this.#store.register(needed, Math.floor(this.#now() / 1000));
    const { erased } = this.#telemetry.enabled
      ? await this.#telemetry.commit(needed.length, register)
      : await register();
    // Only what the committed transaction surely left in the store is
    // remembered; erased and deleted ids are forgotten.
    for (const plan of needed) {
      if (plan.user !== undefined) {
        this.#remember(plan.user.id, userKey(plan.user, plan.seenOn));
      }
      if (plan.move !== undefined) {
        this.#written.delete(plan.move.fromId);
        this.#written.delete(plan.move.toId);
      }
      if (plan.group !== undefined) {
        this.#remember(plan.group.id, groupKey(plan.group, plan.seenOn));
      }
      if (plan.removeGroupId !== undefined) {
        this.#written.delete(plan.removeGroupId);
        this.#telemetry.erasure("removed");
      }
      if (plan.blockedUserId !== undefined) {
        this.#written.delete(plan.blockedUserId);
        this.#telemetry.erasure("blocked");
      }
    }
    for (const id of erased) this.#written.delete(id);
    return written;
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
}

// Whether a plan writes or removes plugin rows.
function hasRows(plan: RegistrationPlan): boolean {
  return (plan.writes?.length ?? 0) > 0 || (plan.removals?.length ?? 0) > 0;
}

// Errors that come from a value of a plan, not from the store's state (a
// lock, a full disk, a lost connection, a key): retrying the plans one by
// one isolates the bad one.
function refusedPlan(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof TypeError || e instanceof RangeError) return true;
    if (
      /constraint|cannot be bound|datatype mismatch|invalid input|out of range/i
        .test(e.message)
    ) {
      return true;
    }
  }
  return false;
}

// Ids are unique across both kinds (users positive, groups negative), so one
// map holds both; the key is every stored field but the first sighting.
// The day seen is part of the key only with a retention period (`seenOn`
// is set only then): without one a known sender is never written again.
function userKey(user: UserFields, seenOn?: string): string {
  return fieldsKey(
    user.username,
    user.first_name,
    user.last_name,
    user.language_code,
    seenOn ?? null,
  );
}

function groupKey(group: GroupFields, seenOn?: string): string {
  return fieldsKey(group.username, group.title, group.type, seenOn ?? null);
}

// NUL cannot occur in Telegram names; SOH marks null so that a last name of
// "null" and no last name differ.
function fieldsKey(...fields: (string | null)[]): string {
  return fields.map((field) => field ?? "\u0001").join("\u0000");
}
