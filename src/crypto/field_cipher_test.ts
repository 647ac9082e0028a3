import assert from "node:assert/strict";
import {
  FieldCipher,
  generateKey,
  keyIdOf,
  TamperedError,
  valueKeyId,
  WrongKeyError,
} from "./field_cipher.ts";

const context = "users.first_name for id 1";

Deno.test("a value round-trips and is versioned with its key's id", () => {
  const cipher = FieldCipher.fromKeySync(generateKey());
  const sealed = cipher.encryptSync("Zoë 🦊", context);
  assert.match(sealed, new RegExp(`^v1\\.${cipher.keyId}\\.[A-Za-z0-9_-]+$`));
  assert.equal(cipher.decryptSync(sealed, context), "Zoë 🦊");
});

Deno.test("every encryption uses a fresh nonce", () => {
  const cipher = FieldCipher.fromKeySync(generateKey());
  assert.notEqual(
    cipher.encryptSync("same", context),
    cipher.encryptSync("same", context),
  );
});

Deno.test("a value moved to another column or record does not decrypt", () => {
  const cipher = FieldCipher.fromKeySync(generateKey());
  const sealed = cipher.encryptSync("Alice", context);
  assert.throws(
    () => cipher.decryptSync(sealed, "users.last_name for id 1"),
    TamperedError,
  );
  assert.throws(
    () => cipher.decryptSync(sealed, "users.first_name for id 2"),
    TamperedError,
  );
});

Deno.test("a flipped byte is reported as tampering, naming the place", () => {
  const cipher = FieldCipher.fromKeySync(generateKey());
  const sealed = cipher.encryptSync("Alice", context);
  const body = sealed.split(".")[2]!;
  const flipped = body[5] === "A" ? "B" : "A";
  const tampered = `${sealed.slice(0, -body.length)}${
    body.slice(0, 5)
  }${flipped}${body.slice(6)}`;
  assert.throws(
    () => cipher.decryptSync(tampered, context),
    (error: Error) =>
      error instanceof TamperedError &&
      error.message ===
        "The stored value of users.first_name for id 1 fails its integrity check: it was altered or copied from another record",
  );
  assert.throws(
    () => cipher.decryptSync("not a ciphertext", context),
    TamperedError,
  );
});

Deno.test("a value from another key names both keys", () => {
  const one = FieldCipher.fromKeySync(generateKey());
  const two = FieldCipher.fromKeySync(generateKey());
  assert.notEqual(one.keyId, two.keyId);
  assert.throws(
    () => two.decryptSync(one.encryptSync("x", context), context),
    (error: Error) =>
      error instanceof WrongKeyError &&
      error.message ===
        `The stored ${context} was encrypted with key ${one.keyId}, but the data key is key ${two.keyId}`,
  );
});

Deno.test("a key must have 32 bytes", () => {
  assert.throws(() => FieldCipher.fromKeySync(new Uint8Array(16)), RangeError);
});

// Written by the WebCrypto implementation this module had before it moved to
// node:crypto (commit 456176b), with the key bytes 1, 8, 15, ... below. They
// pin the stored format: every database written so far holds such values.
const vectorKey = new Uint8Array(32).map((_, i) => i * 7 + 1);
const vectorKeyId = "2d2d230d";
const vectors = [
  {
    plaintext: "Alice",
    context: "users.first_name for id 1",
    sealed: "v1.2d2d230d.euQg1HoF6MjoECbDvJ_iEQHk2fHs9Hi_cetqvQGVtH30",
  },
  {
    plaintext: "",
    context: "users.last_name for id 42",
    sealed: "v1.2d2d230d.C7441hNuqAhPDf0daQq7l5OWv94ZMGYpV6cBuA",
  },
  {
    plaintext: "Zoë 🦊",
    context: "users.username for id -100123",
    sealed: "v1.2d2d230d.OM8-izxEQQESUlHKPoW4WIG4vHZKMf-uMeWfgmIRiUYIhBuLKA",
  },
  {
    plaintext: "Ünïcødé group ✓",
    context: "groups.title for id -1001234567890",
    sealed:
      "v1.2d2d230d.IrnX60D-he2hoFEyjcTjvMAMx0YcrDF_UZ2Gkvhu-iQbW6IvcWQVLHfIu64gr8SEpg",
  },
  {
    plaintext: "privacy-bot data key check",
    context: "data_key_check",
    sealed:
      "v1.2d2d230d.qK36EHYDwLzM136NDwLUt3wtWMQ1dhs_tQuejycb3FpKAnLFZDoZF-n0gwmgWCwZZaf0Mpcf",
  },
  {
    plaintext:
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    context: "users.first_name for id 9007199254740991",
    sealed:
      "v1.2d2d230d.NDaHYw1FAiDw3NouLEaauC-UZdy2Rgamz92A_1bZPKhFwYsaaG1wGrsyYU22U-GZUzYATKieu9O57m4JCPqCglPF_snqpbxrhBiGumgYhMN4keIluKuKAGeOEaKFmeGoTPg",
  },
];

Deno.test("values written by the WebCrypto implementation still decrypt", () => {
  const cipher = FieldCipher.fromKeySync(vectorKey);
  assert.equal(cipher.keyId, vectorKeyId);
  for (const { plaintext, context, sealed } of vectors) {
    assert.equal(cipher.decryptSync(sealed, context), plaintext);
    assert.equal(cipher.decryptSync(sealed, context), plaintext);
  }
});

Deno.test("the key id is the fingerprint WebCrypto computes", async () => {
  for (const raw of [vectorKey, generateKey(), generateKey()]) {
    assert.equal((FieldCipher.fromKeySync(raw)).keyId, await webKeyId(raw));
  }
});

Deno.test("values written now decrypt with WebCrypto, and the other way round", async () => {
  const raw = generateKey();
  const cipher = FieldCipher.fromKeySync(raw);
  const reference = await WebCryptoReference.fromKey(raw, cipher.keyId);
  for (const { plaintext, context } of vectors) {
    const sealed = cipher.encryptSync(plaintext, context);
    assert.equal(await reference.decrypt(sealed, context), plaintext);
    const byReference = await reference.encrypt(plaintext, context);
    assert.equal(cipher.decryptSync(byReference, context), plaintext);
  }
});

Deno.test("the synchronous variants enforce the same binding and integrity", () => {
  const cipher = FieldCipher.fromKeySync(generateKey());
  const other = FieldCipher.fromKeySync(generateKey());
  const sealed = cipher.encryptSync("Alice", context);
  assert.throws(
    () => cipher.decryptSync(sealed, "users.first_name for id 2"),
    TamperedError,
  );
  assert.throws(() => other.decryptSync(sealed, context), WrongKeyError);
  assert.throws(() => FieldCipher.fromKeySync(new Uint8Array(31)), RangeError);
});

Deno.test("a shortened authentication tag is tampering", () => {
  const cipher = FieldCipher.fromKeySync(generateKey());
  const sealed = cipher.encryptSync("Alice", context);
  const [version, keyId, body] = sealed.split(".");
  const bytes = fromBase64url(body!);
  for (const cut of [4, 12, 16]) {
    const short = `${version}.${keyId}.${
      toBase64url(bytes.subarray(0, bytes.length - cut))
    }`;
    assert.throws(() => cipher.decryptSync(short, context), TamperedError);
  }
  assert.throws(
    () =>
      cipher.decryptSync(`${sealed.slice(0, -2)}*${sealed.slice(-1)}`, context),
    TamperedError,
  );
});

// An independent AES-256-GCM implementation of the stored format, on
// WebCrypto as the module was first written.
class WebCryptoReference {
  #key: CryptoKey;
  #keyId: string;

  private constructor(key: CryptoKey, keyId: string) {
    this.#key = key;
    this.#keyId = keyId;
  }

  static async fromKey(raw: Uint8Array, keyId: string) {
    const key = await crypto.subtle.importKey(
      "raw",
      raw as Uint8Array<ArrayBuffer>,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
    return new WebCryptoReference(key, keyId);
  }

  async encrypt(plaintext: string, context: string): Promise<string> {
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce, additionalData: encode(context) },
        this.#key,
        encode(plaintext),
      ),
    );
    const joined = new Uint8Array(12 + sealed.length);
    joined.set(nonce);
    joined.set(sealed, 12);
    return `v1.${this.#keyId}.${toBase64url(joined)}`;
  }

  async decrypt(encoded: string, context: string): Promise<string> {
    const [version, keyId, body] = encoded.split(".");
    assert.equal(version, "v1");
    assert.equal(keyId, this.#keyId);
    const bytes = fromBase64url(body!);
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: bytes.subarray(0, 12),
        additionalData: encode(context),
      },
      this.#key,
      bytes.subarray(12),
    );
    return new TextDecoder().decode(plain);
  }
}

async function webKeyId(raw: Uint8Array): Promise<string> {
  const label = encode("privacy-bot key id\0");
  const joined = new Uint8Array(label.length + raw.length);
  joined.set(label);
  joined.set(raw, label.length);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", joined),
  );
  return Array.from(
    digest.subarray(0, 4),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

function encode(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}

function toBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

Deno.test("a keyring decrypts with whichever key a value names and encrypts with the one it uses", () => {
  const [current, old] = [generateKey(), generateKey()];
  const oldOnly = FieldCipher.fromKeySync(old);
  const ring = FieldCipher.fromKeys([current, old]);
  assert.equal(ring.keyId, keyIdOf(current));
  assert.deepEqual(ring.keyIds, [keyIdOf(current), keyIdOf(old)]);
  assert.equal(
    ring.decryptSync(oldOnly.encryptSync("a", context), context),
    "a",
  );
  const underOld = ring.using(oldOnly.keyId);
  assert.equal(valueKeyId(underOld.encryptSync("b", context)), oldOnly.keyId);
  assert.equal(underOld.currentKeyId, keyIdOf(current));
  assert.throws(
    () => oldOnly.decryptSync(ring.encryptSync("c", context), context),
    WrongKeyError,
  );
  assert.throws(() => oldOnly.using(ring.keyId), WrongKeyError);
});

Deno.test("a key the ring lacks is looked up again through its reloader, once per miss", () => {
  const [old, next] = [generateKey(), generateKey()];
  let reads = 0;
  let file = [old];
  const ring = FieldCipher.fromKeys([old], () => {
    reads++;
    return file;
  });
  const sealed = FieldCipher.fromKeySync(next).encryptSync("new", context);
  assert.throws(() => ring.decryptSync(sealed, context), WrongKeyError);
  assert.equal(reads, 1);
  file = [next, old];
  assert.equal(ring.decryptSync(sealed, context), "new");
  assert.equal(reads, 2);
  assert.equal(ring.decryptSync(sealed, context), "new");
  assert.equal(reads, 2);
  assert.equal(ring.currentKeyId, keyIdOf(next));
  assert.ok(ring.holds(keyIdOf(next)));
});
