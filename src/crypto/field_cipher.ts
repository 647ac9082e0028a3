import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomFillSync,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { StoreError } from "../store/store.ts";

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

/**
 * Encrypts and decrypts single column values with AES-256-GCM.
 * Each value gets a fresh random 96-bit nonce, and its associated data binds
 * it to its table, column and record id, so a value moved to another row or
 * column does not decrypt. The encoding `v1.<key id>.<base64url(nonce|ct|tag)>`
 * names the key, which lets keys be rotated.
 *
 * It runs on `node:crypto`, synchronously: WebCrypto produces the same bytes
 * but every call hops to a thread pool and back, which cost several times the
 * cipher itself for values this small. The async methods stay for callers
 * that await; the `Sync` ones let a batch be encoded without a turn of the
 * event loop per value.
 */
export class FieldCipher {
  /** A short public fingerprint of the key (not the key). */
  readonly keyId: string;
  #key: Buffer;
  #prefix: string;

  private constructor(key: Buffer, keyId: string) {
    this.#key = key;
    this.keyId = keyId;
    this.#prefix = `${VERSION}.${keyId}.`;
  }

  /** Imports 32 raw key bytes. */
  static fromKey(raw: Uint8Array): Promise<FieldCipher> {
    try {
      return Promise.resolve(FieldCipher.fromKeySync(raw));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Imports 32 raw key bytes, synchronously. */
  static fromKeySync(raw: Uint8Array): FieldCipher {
    if (raw.length !== KEY_BYTES) {
      throw new RangeError(
        `A data key has ${KEY_BYTES} bytes, got ${raw.length}`,
      );
    }
    // The fingerprint hashes a label with the key, so it reveals nothing
    // usable about the key itself.
    const digest = createHash("sha256")
      .update("privacy-bot key id\0", "latin1")
      .update(raw)
      .digest();
    // A private copy: the caller may wipe or reuse its buffer.
    return new FieldCipher(
      Buffer.from(raw),
      digest.subarray(0, 4).toString("hex"),
    );
  }

  /** Encrypts `plaintext` for the place `context` names (table, column, id). */
  encrypt(plaintext: string, context: string): Promise<string> {
    try {
      return Promise.resolve(this.encryptSync(plaintext, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Encrypts `plaintext` for the place `context` names, synchronously. */
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
   * Decrypts a value written by `encrypt` for the same `context`. Rejects
   * with `TamperedError` when it was altered or belongs elsewhere, and
   * `WrongKeyError` when another key encrypted it.
   */
  decrypt(encoded: string, context: string): Promise<string> {
    try {
      return Promise.resolve(this.decryptSync(encoded, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `decrypt`, synchronously: throws the same errors. */
  decryptSync(encoded: string, context: string): string {
    const [version, keyId, body, extra] = encoded.split(".");
    if (version !== VERSION || body === undefined || extra !== undefined) {
      throw new TamperedError(context);
    }
    if (keyId !== this.keyId) {
      throw new WrongKeyError(
        `The stored ${context} was encrypted with key ${keyId}, but the data key is key ${this.keyId}`,
      );
    }
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
        this.#key,
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
