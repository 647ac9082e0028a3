/** A registered Telegram user, exactly the columns of SPEC section 2. */
export interface UserRecord {
  id: number;
  username: string | null;
  first_name: string;
  last_name: string | null;
  language_code: string | null;
  /** Unix seconds (UTC) of the first sighting; never changes. */
  registered_at: number;
}

/** A registered group or supergroup, exactly the columns of SPEC section 2. */
export interface GroupRecord {
  id: number;
  username: string | null;
  title: string;
  type: GroupType;
  /** Unix seconds (UTC) of the first sighting; never changes. */
  registered_at: number;
}

/** The chat types that are stored as groups. */
export type GroupType = "group" | "supergroup";

/** What an update tells about a user: the record without its first sighting. */
export type UserFields = Omit<UserRecord, "registered_at">;

/** What an update tells about a group: the record without its first sighting. */
export type GroupFields = Omit<GroupRecord, "registered_at">;

/**
 * Where user and group records live. Implementations are opened by the
 * program and passed in; nothing opens a store at import time.
 */
export interface Store {
  /** Inserts the user, or updates its fields keeping `registered_at`. */
  upsertUser(user: UserFields, now: number): Promise<void>;
  /** Inserts the group, or updates its fields keeping `registered_at`. */
  upsertGroup(group: GroupFields, now: number): Promise<void>;
  /**
   * Moves a group record to a new id (group upgraded to supergroup) keeping
   * the earliest `registered_at`; afterwards only `toId` exists. Returns
   * whether a record was at `fromId`.
   */
  moveGroup(fromId: number, toId: number): Promise<boolean>;
  /** Deletes a user; returns whether one was there. */
  deleteUser(id: number): Promise<boolean>;
  /** Deletes a group; returns whether one was there. */
  deleteGroup(id: number): Promise<boolean>;
  /** The user with this id, if stored. */
  getUser(id: number): Promise<UserRecord | undefined>;
  /** The group with this id, if stored. */
  getGroup(id: number): Promise<GroupRecord | undefined>;
  /**
   * A number that changes when another process may have changed the records,
   * so that in-memory caches of what was written can be dropped.
   */
  externalVersion(): Promise<number>;
  /** Succeeds when the store answers queries (health checks). */
  ping(): Promise<void>;
  /** The highest applied migration. */
  schemaVersion(): Promise<number>;
  /** Releases the connection; the store is unusable afterwards. */
  close(): Promise<void>;
}

/** The store could not be opened, migrated or written. */
export class StoreError extends Error {
  /** Wraps the underlying cause with a one-line message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}
