import { FieldCipher, WrongKeyError } from "./field_cipher.ts";
import type {
  GroupFields,
  GroupRecord,
  UserFields,
  UserRecord,
} from "../store/store.ts";

/** The stored form of a user's encrypted columns: username, first and last name. */
export type UserCells = [string | null, string | null, string | null];
/** The stored form of a group's encrypted columns: username and title. */
export type GroupCells = [string | null, string | null];

/**
 * Turns a record's personal fields into what is stored and back. With a
 * cipher they are encrypted (null stays null: it only says a field is
 * empty); without one the store holds plaintext, as before encryption.
 */
export class FieldCodec {
  readonly cipher: FieldCipher | undefined;

  /** A codec encrypting with `cipher`, or storing plaintext without one. */
  constructor(cipher?: FieldCipher) {
    this.cipher = cipher;
  }

  /** The user's encrypted columns. */
  encodeUser(user: UserFields): Promise<UserCells> {
    return settle(() => this.encodeUserSync(user));
  }

  /** The user's encrypted columns, synchronously. */
  encodeUserSync(user: UserFields): UserCells {
    return [
      this.#encode(user.username, "users", "username", user.id),
      this.#encode(user.first_name, "users", "first_name", user.id),
      this.#encode(user.last_name, "users", "last_name", user.id),
    ];
  }

  /** The group's encrypted columns. */
  encodeGroup(group: GroupFields): Promise<GroupCells> {
    return settle(() => this.encodeGroupSync(group));
  }

  /** The group's encrypted columns, synchronously. */
  encodeGroupSync(group: GroupFields): GroupCells {
    return [
      this.#encode(group.username, "groups", "username", group.id),
      this.#encode(group.title, "groups", "title", group.id),
    ];
  }

  /** A stored user row with its fields decrypted. */
  decodeUser(row: UserRecord): Promise<UserRecord> {
    return settle(() => this.decodeUserSync(row));
  }

  /** A stored user row with its fields decrypted, synchronously. */
  decodeUserSync(row: UserRecord): UserRecord {
    if (this.cipher === undefined) return { ...row };
    const username = this.#decode(row.username, "users", "username", row.id);
    const firstName = this.#decode(
      row.first_name,
      "users",
      "first_name",
      row.id,
    );
    const lastName = this.#decode(row.last_name, "users", "last_name", row.id);
    return {
      ...row,
      username,
      first_name: firstName ?? "",
      last_name: lastName,
    };
  }

  /** A stored group row with its fields decrypted. */
  decodeGroup(row: GroupRecord): Promise<GroupRecord> {
    return settle(() => this.decodeGroupSync(row));
  }

  /** A stored group row with its fields decrypted, synchronously. */
  decodeGroupSync(row: GroupRecord): GroupRecord {
    if (this.cipher === undefined) return { ...row };
    const username = this.#decode(row.username, "groups", "username", row.id);
    const title = this.#decode(row.title, "groups", "title", row.id);
    return { ...row, username, title: title ?? "" };
  }

  /** The key check value for the cipher's key. */
  keyCheck(): Promise<string> {
    return settle(() => this.keyCheckSync());
  }

  /** The key check value for the cipher's key, synchronously. */
  keyCheckSync(): string {
    return this.#requireCipher().encryptSync(KEY_CHECK_TEXT, KEY_CHECK_CONTEXT);
  }

  /** Rejects with `WrongKeyError` unless `check` was made with the cipher's key. */
  verifyKeyCheck(keyId: string, check: string): Promise<void> {
    return settle(() => this.verifyKeyCheckSync(keyId, check));
  }

  /** Throws `WrongKeyError` unless `check` was made with the cipher's key. */
  verifyKeyCheckSync(keyId: string, check: string): void {
    const cipher = this.#requireCipher();
    const mismatch = new WrongKeyError(
      `The data key (key ${cipher.keyId}) is not the key this database was encrypted with (key ${keyId})`,
    );
    if (keyId !== cipher.keyId) throw mismatch;
    try {
      if (cipher.decryptSync(check, KEY_CHECK_CONTEXT) === KEY_CHECK_TEXT) {
        return;
      }
    } catch {
      // Falls through to the mismatch.
    }
    throw mismatch;
  }

  #requireCipher(): FieldCipher {
    if (this.cipher === undefined) throw new Error("No data key");
    return this.cipher;
  }

  #encode(
    value: string | null,
    table: string,
    column: string,
    id: number,
  ): string | null {
    if (value === null || this.cipher === undefined) return value;
    return this.cipher.encryptSync(value, context(table, column, id));
  }

  #decode(
    value: string | null,
    table: string,
    column: string,
    id: number,
  ): string | null {
    if (value === null || this.cipher === undefined) return value;
    return this.cipher.decryptSync(value, context(table, column, id));
  }
}

// Runs synchronous work behind the async API, turning a throw into a
// rejection as the async versions always did.
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

const KEY_CHECK_TEXT = "privacy-bot data key check";
const KEY_CHECK_CONTEXT = "data_key_check";

// The associated data of a value: moving a ciphertext to another table,
// column or record makes it fail to decrypt.
function context(table: string, column: string, id: number): string {
  return `${table}.${column} for id ${id}`;
}
