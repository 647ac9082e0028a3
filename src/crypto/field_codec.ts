import {
  FieldCipher,
  TamperedError,
  valueKeyId,
  WrongKeyError,
} from "./field_cipher.ts";
import type { Row, TableDescription } from "../base/tables.ts";

/**
 * Turns a row's encrypted columns (as its table description marks them)
 * into what is stored and back. With a cipher they are encrypted (null
 * stays null: it only says a field is empty); without one the store holds
 * plaintext, as before encryption. Each value is bound to its table,
 * column and the row's key, so a ciphertext moved elsewhere fails to
 * decrypt.
 */
export class FieldCodec {
  readonly cipher: FieldCipher | undefined;

  /** A codec encrypting with `cipher`, or storing plaintext without one. */
  constructor(cipher?: FieldCipher) {
    this.cipher = cipher;
  }

  /** The row with its encrypted columns encrypted, synchronously; other columns as given. */
  encodeRowSync(table: TableDescription, row: Row): Row {
    if (this.cipher === undefined) return { ...row };
    const out: Row = { ...row };
    const key = rowKey(table, row);
    for (const column of table.columns) {
      if (!column.encrypted) continue;
      out[column.name] = this.#encode(
        row[column.name] as string | null,
        table.name,
        column.name,
        key,
      );
    }
    return out;
  }

  /**
   * A stored row with its encrypted columns decrypted, synchronously. A
   * value that fails its integrity check makes it a `DamagedRecordError`
   * naming every such column of the row.
   */
  decodeRowSync(table: TableDescription, row: Row): Row {
    if (this.cipher === undefined) return { ...row };
    const out: Row = { ...row };
    const key = rowKey(table, row);
    const damaged: string[] = [];
    let first: TamperedError | undefined;
    // Every column is tried, so that a damaged row is reported whole.
    for (const column of table.columns) {
      if (!column.encrypted) continue;
      try {
        out[column.name] = this.#decode(
          row[column.name] as string | null,
          table.name,
          column.name,
          key,
        );
      } catch (error) {
        if (!(error instanceof TamperedError)) throw error;
        first ??= error;
        damaged.push(column.name);
        out[column.name] = null;
      }
    }
    if (first !== undefined) {
      throw new DamagedRecordError(table, key, damaged, { cause: first });
    }
    return out;
  }

  /**
   * Whether a stored row holds a value under a key other than the one this
   * codec encrypts with: a rotation writes it again.
   */
  needsRewrite(table: TableDescription, row: Row): boolean {
    const keyId = this.#requireCipher().keyId;
    return table.columns.some((column) => {
      const value = column.encrypted ? row[column.name] : null;
      return typeof value === "string" && valueKeyId(value) !== keyId;
    });
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
    key: string,
  ): string | null {
    if (value === null || this.cipher === undefined) return value;
    return this.cipher.encryptSync(value, context(table, column, key));
  }

  #decode(
    value: string | null,
    table: string,
    column: string,
    key: string,
  ): string | null {
    if (value === null || this.cipher === undefined) return value;
    return this.cipher.decryptSync(value, context(table, column, key));
  }
}

/**
 * A row some of whose stored values fail their integrity check: it names
 * the table, the row's key and the columns, never a value. Erasing it needs
 * no reading; exports and rotations report it and go on with the rest.
 */
export class DamagedRecordError extends TamperedError {
  /** The table the row is in (`users`, `groups`, a plugin's). */
  readonly table: string;
  /** What a row of that table is (`user`, `group`, `note`). */
  readonly kind: string;
  /** The row's key values joined with commas: the Telegram id for users and groups. */
  readonly key: string;
  /** The columns whose values cannot be read. */
  readonly columns: string[];

  /** Names the row and its unreadable columns. */
  constructor(
    table: TableDescription,
    key: string,
    columns: string[],
    options?: ErrorOptions,
  ) {
    super(
      `${
        columns.map((column) => `${table.name}.${column}`).join(", ")
      } for id ${key}`,
      options,
    );
    if (columns.length > 1) {
      this.message = this.message.replace("value of", "values of").replace(
        "fails its",
        "fail their",
      );
    }
    this.name = "DamagedRecordError";
    this.table = table.name;
    this.kind = table.record;
    this.key = key;
    this.columns = columns;
  }
}

function describeKeys(cipher: FieldCipher): string {
  return cipher.keyIds.map((id) => `key ${id}`).join(", ");
}

const KEY_CHECK_TEXT = "privacy-bot data key check";
const KEY_CHECK_CONTEXT = "data_key_check";

/**
 * A row's key as the codec binds values to it: the key columns' values
 * joined with commas (for users and groups, the Telegram id alone).
 */
export function rowKey(table: TableDescription, row: Row): string {
  return table.key.length === 1
    ? String(row[table.key[0]!])
    : table.key.map((column) => String(row[column])).join(",");
}

// The associated data of a value: moving a ciphertext to another table,
// column or row makes it fail to decrypt.
function context(table: string, column: string, key: string): string {
  return `${table}.${column} for id ${key}`;
}
