// What both engines do alike, written once. Each engine passes in its own
// primitives (a query, a transaction, a page of rows); the rules live here.

import {
  type FieldCipher,
  TamperedError,
  WrongKeyError,
} from "../crypto/field_cipher.ts";
import { FieldCodec } from "../crypto/field_codec.ts";
import type { StoreSummary } from "./store.ts";

/** Now, in Unix seconds: the unit of every stored time but the health probe's. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * The value the write probe stores, in milliseconds; the engines store the
 * larger of it and the previous value plus one, so that every probe changes
 * the row (an update to the same value may write nothing, and would then
 * succeed on a full disk).
 */
export function healthStamp(): number {
  return Date.now();
}

// The database holds encrypted values, and no key was given.
function encryptedWithoutKeyError(keyId: string): WrongKeyError {
  return new WrongKeyError(
    `This database is encrypted (key ${keyId}): set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key`,
  );
}

/**
 * Another process moved the database to another key of this ring while a
 * write was prepared under the old one: the store writes again with the key
 * now bound.
 */
export class KeyMovedError extends WrongKeyError {
  /** Says which key the database moved to. */
  constructor(keyId: string) {
    super(`The database moved to key ${keyId} during the write`);
    this.name = "KeyMovedError";
  }
}

/** Runs a write again, once or twice, when the database moved to another key of the ring meanwhile. */
export async function retryOnKeyMove<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof KeyMovedError) || attempt >= 3) throw error;
    }
  }
}

/**
 * The codec a write must be prepared with in a database bound to
 * `boundKeyId` (undefined: not encrypted yet): `codec` itself when it fits,
 * else the same ring encrypting with the bound key. `WrongKeyError` when it
 * cannot write there at all (no key, or a ring without the bound key).
 */
export function codecForBinding(
  codec: FieldCodec,
  boundKeyId: string | undefined,
): FieldCodec {
  if (boundKeyId === undefined) return codec;
  if (codec.cipher === undefined) throw encryptedWithoutKeyError(boundKeyId);
  return codec.boundTo(boundKeyId);
}

/** The stored key check: which key the database is bound to, and a value only it decrypts. */
export interface KeyCheck {
  key_id: string;
  check_value: string;
}

/**
 * Checks the keys against the database's key check, and returns the codec
 * that writes with the key the database is bound to (any key of the ring
 * opens it). Undefined when a key is given and the database has none yet:
 * the caller binds it, encrypting what is stored (`reencodeAll`).
 */
export function codecForCheck(
  codec: FieldCodec,
  check: KeyCheck | undefined,
): FieldCodec | undefined {
  if (codec.cipher === undefined) {
    if (check !== undefined) throw encryptedWithoutKeyError(check.key_id);
    return codec;
  }
  if (check === undefined) return undefined;
  codec.verifyKeyCheckSync(check.key_id, check.check_value);
  return codec.boundTo(check.key_id);
}

/**
 * The codec a rotation writes with: `next`'s key, decrypting with every key
 * of the store's ring too.
 */
export function rotationCodec(from: FieldCodec, next: FieldCipher): FieldCodec {
  return new FieldCodec(
    from.cipher === undefined ? next : next.including(from.cipher),
  );
}

/** Values still under a key other than `keyId`, from a store's summary. */
export function remainingValues(summary: StoreSummary, keyId: string): number {
  let remaining = 0;
  for (const [id, n] of Object.entries(summary.valuesByKeyId)) {
    if (id !== keyId) remaining += n;
  }
  return remaining;
}

/**
 * A record that fails its integrity check counts as absent for writes: the
 * update being written replaces it with values that check out.
 */
export async function readable<T>(
  read: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof TamperedError) return undefined;
    throw error;
  }
}
