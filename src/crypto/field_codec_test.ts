import assert from "node:assert/strict";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "./field_cipher.ts";
import { FieldCodec } from "./field_codec.ts";

// Sealed by the WebCrypto implementation (commit 456176b) under the key
// bytes 1, 8, 15, ... for "users.first_name for id 1": it pins the
// associated data a stored cell is bound to.
const vectorKey = new Uint8Array(32).map((_, i) => i * 7 + 1);
const aliceCell = "v1.2d2d230d.euQg1HoF6MjoECbDvJ_iEQHk2fHs9Hi_cetqvQGVtH30";

Deno.test("a cell stored by the WebCrypto implementation decodes in its place only", () => {
  const codec = new FieldCodec(FieldCipher.fromKeySync(vectorKey));
  const row = {
    id: 1,
    username: null,
    first_name: aliceCell,
    last_name: null,
    language_code: "en",
    registered_at: 1_700_000_000,
  };
  assert.equal(codec.decodeUserSync(row).first_name, "Alice");
  assert.throws(
    () => codec.decodeUserSync({ ...row, id: 2 }),
    TamperedError,
  );
  assert.throws(
    () =>
      codec.decodeUserSync({ ...row, first_name: "", last_name: aliceCell }),
    TamperedError,
  );
});

Deno.test("encodings decode back and keep nulls", () => {
  const codec = new FieldCodec(FieldCipher.fromKeySync(generateKey()));
  const user = {
    id: 7,
    username: null,
    first_name: "Zoë",
    last_name: "Ng",
    language_code: null,
  };
  for (
    const cells of [codec.encodeUserSync(user), codec.encodeUserSync(user)]
  ) {
    assert.equal(cells[0], null);
    const stored = {
      ...user,
      username: cells[0],
      first_name: cells[1]!,
      last_name: cells[2],
      registered_at: 1,
    };
    assert.notEqual(stored.first_name, "Zoë");
    assert.deepEqual(codec.decodeUserSync(stored), {
      ...user,
      registered_at: 1,
    });
  }
  const group = { id: -5, username: "g", title: "T", type: "group" as const };
  const [username, title] = codec.encodeGroupSync(group);
  assert.deepEqual(
    codec.decodeGroupSync({
      ...group,
      username,
      title: title!,
      registered_at: 2,
    }),
    { ...group, registered_at: 2 },
  );
});

Deno.test("the key check rejects another key", () => {
  const codec = new FieldCodec(FieldCipher.fromKeySync(generateKey()));
  const other = new FieldCodec(FieldCipher.fromKeySync(generateKey()));
  const check = codec.keyCheckSync();
  codec.verifyKeyCheckSync(codec.cipher!.keyId, codec.keyCheckSync());
  codec.verifyKeyCheckSync(codec.cipher!.keyId, check);
  assert.throws(
    () => other.verifyKeyCheckSync(codec.cipher!.keyId, check),
    WrongKeyError,
  );
  assert.throws(
    () => other.verifyKeyCheckSync(other.cipher!.keyId, check),
    WrongKeyError,
  );
});
