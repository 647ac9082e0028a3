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

  /** The user's encrypted columns, encrypted in parallel. */
  encodeUser(user: UserFields): Promise<UserCells> {
    return Promise.all([
      this.#encode(user.username, "users", "username", user.id),
      this.#encode(user.first_name, "users", "first_name", user.id),
      this.#encode(user.last_name, "users", "last_name", user.id),
    ]);
  }

  /** The group's encrypted columns, encrypted in parallel. */
  encodeGroup(group: GroupFields): Promise<GroupCells> {
    return Promise.all([
      this.#encode(group.username, "groups", "username", group.id),
      this.#encode(group.title, "groups", "title", group.id),
    ]);
  }

  /** A stored user row with its fields decrypted. */
  async decodeUser(row: UserRecord): Promise<UserRecord> {
    if (this.cipher === undefined) return { ...row };
    const [username, first_name, last_name] = await Promise.all([
      this.#decode(row.username, "users", "username", row.id),
      this.#decode(row.first_name, "users", "first_name", row.id),
      this.#decode(row.last_name, "users", "last_name", row.id),
    ]);
    return { ...row, username, first_name: first_name ?? "", last_name };
  }

  /** A stored group row with its fields decrypted. */
  async decodeGroup(row: GroupRecord): Promise<GroupRecord> {
    if (this.cipher === undefined) return { ...row };
    const [username, title] = await Promise.all([
      this.#decode(row.username, "groups", "username", row.id),
      this.#decode(row.title, "groups", "title", row.id),
    ]);
    return { ...row, username, title: title ?? "" };
  }

  /** The key check value for the cipher's key. */
  async keyCheck(): Promise<string> {
    return await this.#requireCipher().encrypt(
      KEY_CHECK_TEXT,
      KEY_CHECK_CONTEXT,
    );
  }

  /** Throws `WrongKeyError` unless `check` was made with the cipher's key. */
  async verifyKeyCheck(keyId: string, check: string): Promise<void> {
    const cipher = this.#requireCipher();
    const mismatch = new WrongKeyError(
      `DATA_ENCRYPTION_KEY (key ${cipher.keyId}) is not the key this database was encrypted with (key ${keyId})`,
    );
    if (keyId !== cipher.keyId) throw mismatch;
    try {
      if (await cipher.decrypt(check, KEY_CHECK_CONTEXT) === KEY_CHECK_TEXT) {
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

  #encode(value: string | null, table: string, column: string, id: number) {
    if (value === null || this.cipher === undefined) {
      return Promise.resolve(value);
    }
    return this.cipher.encrypt(value, context(table, column, id));
  }

  #decode(value: string | null, table: string, column: string, id: number) {
    if (value === null || this.cipher === undefined) {
      return Promise.resolve(value);
    }
    return this.cipher.decrypt(value, context(table, column, id));
  }
}

const KEY_CHECK_TEXT = "privacy-bot data key check";
const KEY_CHECK_CONTEXT = "data_key_check";

// The associated data of a value: moving a ciphertext to another table,
// column or record makes it fail to decrypt.
function context(table: string, column: string, id: number): string {
  return `${table}.${column} for id ${id}`;
}
