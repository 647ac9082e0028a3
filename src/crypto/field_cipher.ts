import { StoreError } from "../store/store.ts";

/** Bytes in a data key (AES-256). */
export const KEY_BYTES = 32;

const NONCE_BYTES = 12;
const VERSION = "v1";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

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
 * Encrypts and decrypts single column values with AES-256-GCM (WebCrypto).
 * Each value gets a fresh random 96-bit nonce, and its associated data binds
 * it to its table, column and record id, so a value moved to another row or
 * column does not decrypt. The encoding `v1.<key id>.<base64url(nonce|ct)>`
 * names the key, which lets keys be rotated.
 */
export class FieldCipher {
  /** A short public fingerprint of the key (not the key). */
  readonly keyId: string;
  #key: CryptoKey;

  private constructor(key: CryptoKey, keyId: string) {
    this.#key = key;
    this.keyId = keyId;
  }

  /** Imports 32 raw key bytes. */
  static async fromKey(raw: Uint8Array): Promise<FieldCipher> {
    if (raw.length !== KEY_BYTES) {
      throw new RangeError(
        `A data key has ${KEY_BYTES} bytes, got ${raw.length}`,
      );
    }
    const key = await crypto.subtle.importKey(
      "raw",
      raw as Uint8Array<ArrayBuffer>,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
    // The fingerprint hashes a label with the key, so it reveals nothing
    // usable about the key itself.
    const digest = await crypto.subtle.digest(
      "SHA-256",
      concat(encoder.encode("privacy-bot key id\0"), raw),
    );
    return new FieldCipher(key, hex(new Uint8Array(digest).subarray(0, 4)));
  }

  /** Encrypts `plaintext` for the place `context` names (table, column, id). */
  async encrypt(plaintext: string, context: string): Promise<string> {
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: encoder.encode(context) },
      this.#key,
      encoder.encode(plaintext),
    );
    return `${VERSION}.${this.keyId}.${
      base64url(concat(nonce, new Uint8Array(sealed)))
    }`;
  }

  /**
   * Decrypts a value written by `encrypt` for the same `context`. Throws
   * `TamperedError` when it was altered or belongs elsewhere, and
   * `WrongKeyError` when another key encrypted it.
   */
  async decrypt(encoded: string, context: string): Promise<string> {
    const [version, keyId, body, extra] = encoded.split(".");
    if (version !== VERSION || body === undefined || extra !== undefined) {
      throw new TamperedError(context);
    }
    if (keyId !== this.keyId) {
      throw new WrongKeyError(
        `The stored ${context} was encrypted with key ${keyId}, but DATA_ENCRYPTION_KEY is key ${this.keyId}`,
      );
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = fromBase64url(body);
    } catch (error) {
      throw new TamperedError(context, { cause: error });
    }
    try {
      const plain = await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: bytes.subarray(0, NONCE_BYTES),
          additionalData: encoder.encode(context),
        },
        this.#key,
        bytes.subarray(NONCE_BYTES),
      );
      return decoder.decode(plain);
    } catch (error) {
      throw new TamperedError(context, { cause: error });
    }
  }
}

/** A fresh random data key. */
export function generateKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
