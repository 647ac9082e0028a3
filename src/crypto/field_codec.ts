import {
  FieldCipher,
  TamperedError,
  valueKeyId,
  WrongKeyError,
} from "./field_cipher.ts";
import type {
  GroupFields,
  GroupRecord,
  UserFields,
  UserRecord,
} from "../base/records.ts";

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

  /** The user's encrypted columns, synchronously. */
  encodeUserSync(user: UserFields): UserCells {
    return [
      this.#encode(user.username, "users", "username", user.id),
      this.#encode(user.first_name, "users", "first_name", user.id),
      this.#encode(user.last_name, "users", "last_name", user.id),
    ];
  }

  /** The group's encrypted columns, synchronously. */
  encodeGroupSync(group: GroupFields): GroupCells {
    return [
      this.#encode(group.username, "groups", "username", group.id),
      this.#encode(group.title, "groups", "title", group.id),
    ];
  }

  /**
   * A stored user row with its fields decrypted, synchronously. A value that
   * fails its integrity check makes it a `DamagedRecordError` naming every
   * such column of the record.
   */
  decodeUserSync(row: UserRecord): UserRecord {
    if (this.cipher === undefined) return { ...row };
    const [username, firstName, lastName] = this.#decodeAll("users", row.id, [
      ["username", row.username],
      ["first_name", row.first_name],
      ["last_name", row.last_name],
    ]);
    return {
      ...row,
      username,
      first_name: firstName ?? "",
      last_name: lastName,
    };
  }

  /** A stored group row with its fields decrypted, synchronously. */
  decodeGroupSync(row: GroupRecord): GroupRecord {
    if (this.cipher === undefined) return { ...row };
    const [username, title] = this.#decodeAll("groups", row.id, [
      ["username", row.username],
      ["title", row.title],
    ]);
    return { ...row, username, title: title ?? "" };
  }

  /**
   * Whether a stored row holds a value under a key other than the one this
   * codec encrypts with: a rotation writes it again.
   */
  needsRewrite(
    table: "users" | "groups",
    row: UserRecord | GroupRecord,
  ): boolean {
    const keyId = this.#requireCipher().keyId;
    const values = table === "users"
      ? [
        (row as UserRecord).username,
        (row as UserRecord).first_name,
        (row as UserRecord).last_name,
      ]
      : [(row as GroupRecord).username, (row as GroupRecord).title];
    return values.some((value) =>
      value !== null && valueKeyId(value) !== keyId
    );
  }

  /** The key check value for the cipher's key, synchronously. */
  keyCheckSync(): string {
    return this.#requireCipher().encryptSync(KEY_CHECK_TEXT, KEY_CHECK_CONTEXT);
  }

  /**
   * The codec to write with in a database bound to `keyId`: this one when
   * it encrypts with that key, else one encrypting with that key of its
   * ring. `WrongKeyError` when the ring does not hold it.
   */
  boundTo(keyId: string): FieldCodec {
    const cipher = this.#requireCipher();
    if (cipher.keyId === keyId) return this;
    if (!cipher.holds(keyId)) {
      throw new WrongKeyError(
        `The database was encrypted with key ${keyId} by another process, which the data keys (${
          describeKeys(cipher)
        }) do not include: add it, or restart with it`,
      );
    }
    return new FieldCodec(cipher.using(keyId));
  }

  /** Throws `WrongKeyError` unless `check` was made with a key of the cipher's ring. */
  verifyKeyCheckSync(keyId: string, check: string): void {
    const cipher = this.#requireCipher();
    const ids = cipher.keyIds;
    const mismatch = new WrongKeyError(
      ids.length === 1
        ? `The data key (key ${cipher.keyId}) is not the key this database was encrypted with (key ${keyId})`
        : `None of the data keys (${
          describeKeys(cipher)
        }) is the key this database was encrypted with (key ${keyId})`,
    );
    if (valueKeyId(check) !== keyId || !cipher.holds(keyId)) throw mismatch;
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

  // Every column is tried, so that a damaged record is reported whole.
  #decodeAll(
    table: "users" | "groups",
    id: number,
    cells: [string, string | null][],
  ): (string | null)[] {
    const values: (string | null)[] = [];
    const damaged: string[] = [];
    let first: TamperedError | undefined;
    for (const [column, value] of cells) {
      try {
        values.push(this.#decode(value, table, column, id));
      } catch (error) {
        if (!(error instanceof TamperedError)) throw error;
        first ??= error;
        damaged.push(column);
        values.push(null);
      }
    }
    if (first !== undefined) {
      throw new DamagedRecordError(table, id, damaged, { cause: first });
    }
    return values;
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

/**
 * A record some of whose stored values fail their integrity check: it
 * names the record and the columns, never a value. Erasing it needs no
 * reading; exports and rotations report it and go on with the rest.
 */
export class DamagedRecordError extends TamperedError {
  /** `users` or `groups`. */
  readonly table: "users" | "groups";
  /** The record's Telegram id. */
  readonly id: number;
  /** The columns whose values cannot be read. */
  readonly columns: string[];

  /** Names the record and its unreadable columns. */
  constructor(
    table: "users" | "groups",
    id: number,
    columns: string[],
    options?: ErrorOptions,
  ) {
    super(
      `${
        columns.map((column) => `${table}.${column}`).join(", ")
      } for id ${id}`,
      options,
    );
    if (columns.length > 1) {
      this.message = this.message.replace("value of", "values of").replace(
        "fails its",
        "fail their",
      );
    }
    this.name = "DamagedRecordError";
    this.table = table;
    this.id = id;
    this.columns = columns;
  }

  /** `user` or `group`, as the CLI names the kinds. */
  get kind(): "user" | "group" {
    return this.table === "users" ? "user" : "group";
  }
}

function describeKeys(cipher: FieldCipher): string {
  return cipher.keyIds.map((id) => `key ${id}`).join(", ");
}

const KEY_CHECK_TEXT = "privacy-bot data key check";
const KEY_CHECK_CONTEXT = "data_key_check";

// The associated data of a value: moving a ciphertext to another table,
// column or record makes it fail to decrypt.
function context(table: string, column: string, id: number): string {
  return `${table}.${column} for id ${id}`;
}
