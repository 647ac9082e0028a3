/**
 * Encryption at rest: data keys and keyrings (`data_key.ts`, `key_file.ts`),
 * the AES-256-GCM cipher of single values (this file) and the codec that
 * turns records into what is stored (`field_codec.ts`). Below the store.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomFillSync,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { StoreError } from "../base/errors.ts";

/** Bytes in a data key (AES-256). */
export const KEY_BYTES = 32;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = "v1";
const ALGORITHM = "aes-256-gcm";
// ignoreBOM: a value may itself begin with U+FEFF, which must survive.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A stored value failed its integrity check: altered, or copied from elsewhere. */
export class TamperedError extends StoreError {
  /** Names the record and column whose value cannot be trusted. */
  constructor(where: string, options?: ErrorOptions) {
    super(
      `The stored value of ${where} fails its integrity check: it was altered or copied from another record`,
      options,
    );
    this.name = "TamperedError";
  }
}

/** The database's data cannot be read with the key given (or without one). */
export class WrongKeyError extends StoreError {
  /** Builds the one-line message for the operator. */
  constructor(message: string) {
    super(message);
    this.name = "WrongKeyError";
  }
}

/** Re-reads where the keys came from; the keys found, current first. */
export type KeyReloader = () => Uint8Array[] | undefined;

// The keys a cipher and the ciphers derived from it hold, by key id. It is
// shared, so a key learnt by re-reading the key file is known to them all.
class KeyRing {
  readonly keys = new Map<string, Buffer>();
  /** The configured current key's id: the one rotate-key moves data to. */
  currentId = "";
  reload: KeyReloader | undefined;

  add(raw: Uint8Array): string {
    const id = keyIdOf(raw);
    // A private copy: the caller may wipe or reuse its buffer.
    if (!this.keys.has(id)) this.keys.set(id, Buffer.from(raw));
    return id;
  }

  // A key the ring lacks may have been added to the key file since it was
  // read (a rotation under way): the file is read again once per miss.
  find(keyId: string): Buffer | undefined {
    const key = this.keys.get(keyId);
    if (key !== undefined || this.reload === undefined) return key;
    let fresh: Uint8Array[] | undefined;
    try {
      fresh = this.reload();
    } catch {
      fresh = undefined;
    }
    if (fresh === undefined || fresh.length === 0) return undefined;
    fresh.forEach((raw) => this.add(raw));
    this.currentId = keyIdOf(fresh[0]!);
    return this.keys.get(keyId);
  }
}

/** The public id of a 32-byte key: a short fingerprint that reveals nothing of it. */
export function keyIdOf(raw: Uint8Array): string {
  if (raw.length !== KEY_BYTES) {
    throw new RangeError(
      `A data key has ${KEY_BYTES} bytes, got ${raw.length}`,
    );
  }
  // The fingerprint hashes a label with the key, so it reveals nothing
  // usable about the key itself.
  return createHash("sha256")
    .update("privacy-bot key id\0", "latin1")
    .update(raw)
    .digest()
    .subarray(0, 4)
    .toString("hex");
}

/** The id of the key a stored value names, or undefined for a value that is not a ciphertext. */
export function valueKeyId(encoded: string): string | undefined {
  const [version, keyId] = encoded.split(".", 3);
  return version === VERSION && keyId !== undefined && keyId !== ""
    ? keyId
    : undefined;
}

/**
 * Encrypts and decrypts single column values with AES-256-GCM.
 * Each value gets a fresh random 96-bit nonce, and its associated data binds
 * it to its table, column and record id, so a value moved to another row or
 * column does not decrypt. The encoding `v1.<key id>.<base64url(nonce|ct|tag)>`
 * names the key, which lets keys be rotated: a cipher holds a keyring, the
 * current key and previous ones, decrypts with whichever key a value names
 * and encrypts with one of them (`keyId`).
 *
 * It runs on `node:crypto`, synchronously: WebCrypto produces the same bytes
 * but every call hops to a thread pool and back, which cost several times the
 * cipher itself for values this small. Every method is synchronous, so a
 * batch is encoded without a turn of the event loop per value.
 */
export class FieldCipher {
  /** The id of the key this cipher encrypts with (a public fingerprint, not the key). */
  readonly keyId: string;
  #key: Buffer;
  #prefix: string;
  #ring: KeyRing;

  private constructor(ring: KeyRing, keyId: string) {
    this.#ring = ring;
    this.#key = ring.keys.get(keyId)!;
    this.keyId = keyId;
    this.#prefix = `${VERSION}.${keyId}.`;
  }

  /** Imports 32 raw key bytes, synchronously. */
  static fromKeySync(raw: Uint8Array): FieldCipher {
    return FieldCipher.fromKeys([raw]);
  }

  /**
   * A keyring: the current key first, then previous keys, which still
   * decrypt. It encrypts with the current key until `using` picks another.
   * `reload` is asked for the keys again when a value names a key the ring
   * lacks (a key file rewritten by a rotation).
   */
  static fromKeys(keys: Uint8Array[], reload?: KeyReloader): FieldCipher {
    if (keys.length === 0) throw new RangeError("A keyring needs a key");
    const ring = new KeyRing();
    ring.reload = reload;
    ring.currentId = keys.map((raw) => ring.add(raw))[0]!;
    return new FieldCipher(ring, ring.currentId);
  }

  /** The ids of every key held; the configured current key first. */
  get keyIds(): string[] {
    const current = this.#ring.currentId;
    return [
      current,
      ...[...this.#ring.keys.keys()].filter((id) => id !== current),
    ];
  }

  /** The configured current key's id: the key rotate-key moves the data to. */
  get currentKeyId(): string {
    return this.#ring.currentId;
  }

  /** Whether the ring holds this key (re-reading the key file once if not). */
  holds(keyId: string): boolean {
    return this.#ring.find(keyId) !== undefined;
  }

  /** The same keyring, encrypting with the held key `keyId` (`WrongKeyError` if not held). */
  using(keyId: string): FieldCipher {
    if (keyId === this.keyId) return this;
    if (!this.holds(keyId)) throw this.#missing(keyId, "the database");
    return new FieldCipher(this.#ring, keyId);
  }

  /** A cipher encrypting with this one's key that also decrypts with every key `other` holds. */
  including(other: FieldCipher): FieldCipher {
    if (other.#ring === this.#ring) return this;
    const ring = new KeyRing();
    ring.reload = this.#ring.reload ?? other.#ring.reload;
    ring.currentId = this.#ring.currentId;
    for (const source of [this.#ring, other.#ring]) {
      for (const [id, key] of source.keys) {
        if (!ring.keys.has(id)) ring.keys.set(id, key);
      }
    }
    return new FieldCipher(ring, this.keyId);
  }

  #missing(keyId: string, what: string): WrongKeyError {
    return new WrongKeyError(
      `The stored ${what} was encrypted with key ${keyId}, but the data ${
        this.#ring.keys.size === 1 ? "key is" : "keys are"
      } ${this.keyIds.map((id) => `key ${id}`).join(", ")}`,
    );
  }

  /** Encrypts `plaintext` for the place `context` names (table, column, id). */
  encryptSync(plaintext: string, context: string): string {
    const nonce = randomFillSync(Buffer.allocUnsafe(NONCE_BYTES));
    const cipher = createCipheriv(ALGORITHM, this.#key, nonce, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(Buffer.from(context, "utf8"));
    // A Buffer in, not a string: the polyfill's string path costs more
    // than the cipher itself.
    const body = cipher.update(Buffer.from(plaintext, "utf8"));
    const last = cipher.final();
    const sealed = Buffer.concat([nonce, body, last, cipher.getAuthTag()]);
    return this.#prefix + sealed.toString("base64url");
  }

  /**
   * Decrypts a value written by `encryptSync` for the same `context`. Throws
   * `TamperedError` when it was altered or belongs elsewhere, and
   * `WrongKeyError` when another key encrypted it.
   */
  decryptSync(encoded: string, context: string): string {
    const [version, keyId, body, extra] = encoded.split(".");
    if (version !== VERSION || body === undefined || extra !== undefined) {
      throw new TamperedError(context);
    }
    const key = keyId === this.keyId ? this.#key : this.#ring.find(keyId!);
    if (key === undefined) throw this.#missing(keyId!, context);
    // Buffer's decoder skips characters it does not know and a length no
    // encoder produces; both mean the value was altered.
    if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) {
      throw new TamperedError(context);
    }
    const bytes = Buffer.from(body, "base64url");
    // The tag length is fixed: GCM would otherwise accept a truncated tag.
    if (bytes.length < NONCE_BYTES + TAG_BYTES) {
      throw new TamperedError(context);
    }
    try {
      const decipher = createDecipheriv(
        ALGORITHM,
        key,
        bytes.subarray(0, NONCE_BYTES),
        { authTagLength: TAG_BYTES },
      );
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const head = decipher.update(
        bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES),
      );
      const tail = decipher.final();
      return decoder.decode(
        tail.length === 0 ? head : Buffer.concat([head, tail]),
      );
    } catch (error) {
      throw new TamperedError(context, { cause: error });
    }
  }
}

/** A fresh random data key. */
export function generateKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}
