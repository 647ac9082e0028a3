/**
 * The records the privacy policy lists, as every layer sees them: the store
 * keeps them, the cipher encrypts their names, exports write them.
 *
 * @module
 */

/** A registered Telegram user, exactly the columns the privacy policy lists. */
export interface UserRecord {
  id: number;
  username: string | null;
  first_name: string;
  last_name: string | null;
  language_code: string | null;
  /** Unix seconds (UTC) of the first sighting; never changes. */
  registered_at: number;
  /** The day last seen (`YYYY-MM-DD`, UTC), only with a retention period. */
  seen_on: string | null;
}

/** A registered group or supergroup, exactly the columns the privacy policy lists. */
export interface GroupRecord {
  id: number;
  username: string | null;
  title: string;
  type: GroupType;
  /** Unix seconds (UTC) of the first sighting; never changes. */
  registered_at: number;
  /** The day last seen (`YYYY-MM-DD`, UTC), only with a retention period. */
  seen_on: string | null;
}

/** The chat types that are stored as groups. */
export type GroupType = "group" | "supergroup";

/** What an update tells about a user: the record without its first sighting. */
export type UserFields = Omit<UserRecord, "registered_at" | "seen_on">;

/** What an update tells about a group: the record without its first sighting. */
export type GroupFields = Omit<GroupRecord, "registered_at" | "seen_on">;
