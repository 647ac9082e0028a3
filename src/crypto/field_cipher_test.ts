import assert from "node:assert/strict";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "./field_cipher.ts";

const context = "users.first_name for id 1";

Deno.test("a value round-trips and is versioned with its key's id", async () => {
  const cipher = await FieldCipher.fromKey(generateKey());
  const sealed = await cipher.encrypt("Zoë 🦊", context);
  assert.match(sealed, new RegExp(`^v1\\.${cipher.keyId}\\.[A-Za-z0-9_-]+$`));
  assert.equal(await cipher.decrypt(sealed, context), "Zoë 🦊");
});

Deno.test("every encryption uses a fresh nonce", async () => {
  const cipher = await FieldCipher.fromKey(generateKey());
  assert.notEqual(
    await cipher.encrypt("same", context),
    await cipher.encrypt("same", context),
  );
});

Deno.test("a value moved to another column or record does not decrypt", async () => {
  const cipher = await FieldCipher.fromKey(generateKey());
  const sealed = await cipher.encrypt("Alice", context);
  await assert.rejects(
    cipher.decrypt(sealed, "users.last_name for id 1"),
    TamperedError,
  );
  await assert.rejects(
    cipher.decrypt(sealed, "users.first_name for id 2"),
    TamperedError,
  );
});

Deno.test("a flipped byte is reported as tampering, naming the place", async () => {
  const cipher = await FieldCipher.fromKey(generateKey());
  const sealed = await cipher.encrypt("Alice", context);
  const body = sealed.split(".")[2]!;
  const flipped = body[5] === "A" ? "B" : "A";
  const tampered = `${sealed.slice(0, -body.length)}${
    body.slice(0, 5)
  }${flipped}${body.slice(6)}`;
  await assert.rejects(
    cipher.decrypt(tampered, context),
    (error: Error) =>
      error instanceof TamperedError &&
      error.message ===
        "The stored value of users.first_name for id 1 fails its integrity check: it was altered or copied from another record",
  );
  await assert.rejects(
    cipher.decrypt("not a ciphertext", context),
    TamperedError,
  );
});

Deno.test("a value from another key names both keys", async () => {
  const one = await FieldCipher.fromKey(generateKey());
  const two = await FieldCipher.fromKey(generateKey());
  assert.notEqual(one.keyId, two.keyId);
  await assert.rejects(
    two.decrypt(await one.encrypt("x", context), context),
    WrongKeyError,
  );
});

Deno.test("a key must have 32 bytes", async () => {
  await assert.rejects(FieldCipher.fromKey(new Uint8Array(16)), RangeError);
});
