/**
 * The cost of one field's encryption at rest: the project's cipher
 * (node:crypto, synchronous) against WebCrypto, which the project used
 * before, one call at a time and with many in flight. A record has up to
 * three such fields. Run with `deno task bench:cipher`.
 */
import { FieldCipher, generateKey } from "../src/crypto/field_cipher.ts";
import { FieldCodec } from "../src/crypto/field_codec.ts";
import { USERS } from "../src/base/tables.ts";

const raw = generateKey();
const cipher = FieldCipher.fromKeySync(raw);
const codec = new FieldCodec(cipher);
const webKey = await crypto.subtle.importKey(
  "raw",
  raw as Uint8Array<ArrayBuffer>,
  "AES-GCM",
  false,
  ["encrypt", "decrypt"],
);
const encoder = new TextEncoder();
const context = "users.first_name for id 1234567890";
const plaintext = "Zoë Example";
const sealed = cipher.encryptSync(plaintext, context);
const user = {
  id: 1234567890,
  username: "zoe_example",
  first_name: "Zoë",
  last_name: "Example",
  language_code: "en",
  registered_at: 1_700_000_000,
};
const row = codec.encodeRowSync(USERS, user);
const IN_FLIGHT = 64;

function webEncrypt(): Promise<ArrayBuffer> {
  return crypto.subtle.encrypt(
    {
      name: "AES-GCM",
      iv: crypto.getRandomValues(new Uint8Array(12)),
      additionalData: encoder.encode(context),
    },
    webKey,
    encoder.encode(plaintext),
  );
}

Deno.bench("encrypt one field, node:crypto (project)", {
  group: "encrypt",
  baseline: true,
}, () => {
  cipher.encryptSync(plaintext, context);
});
Deno.bench(
  "encrypt one field, WebCrypto, one at a time",
  { group: "encrypt" },
  async () => {
    await webEncrypt();
  },
);
Deno.bench(`encrypt ${IN_FLIGHT} fields, WebCrypto, all in flight`, {
  group: "encrypt",
  n: 2_000,
}, async () => {
  await Promise.all(Array.from({ length: IN_FLIGHT }, webEncrypt));
});
Deno.bench("decrypt one field, node:crypto (project)", {
  group: "decrypt",
  baseline: true,
}, () => {
  cipher.decryptSync(sealed, context);
});
Deno.bench(
  "encode a user's three fields (project)",
  { group: "record" },
  () => {
    codec.encodeRowSync(USERS, user);
  },
);
Deno.bench(
  "decode a user's three fields (project)",
  { group: "record" },
  () => {
    codec.decodeRowSync(USERS, row);
  },
);
