import assert from "node:assert/strict";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "./field_cipher.ts";
import { DamagedRecordError, FieldCodec } from "./field_codec.ts";
import { GROUPS, USERS } from "../base/tables.ts";
import { NOTES_ENTRIES, NOTES_SHARED } from "../../examples/notes/data.ts";

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
  assert.equal(codec.decodeRowSync(USERS, row).first_name, "Alice");
  assert.throws(
    () => codec.decodeRowSync(USERS, { ...row, id: 2 }),
    TamperedError,
  );
  assert.throws(
    () =>
      codec.decodeRowSync(USERS, {
        ...row,
        first_name: "",
        last_name: aliceCell,
      }),
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
    registered_at: 1,
  };
  const first = codec.encodeRowSync(USERS, user);
  const second = codec.encodeRowSync(USERS, user);
  for (const stored of [first, second]) {
    assert.equal(stored.username, null);
    assert.notEqual(stored.first_name, "Zoë");
    assert.equal(stored.language_code, null);
    assert.deepEqual(codec.decodeRowSync(USERS, stored), user);
  }
  assert.notEqual(first.first_name, second.first_name);
  const group = {
    id: -5,
    username: "g",
    title: "T",
    type: "group",
    registered_at: 2,
  };
  assert.deepEqual(
    codec.decodeRowSync(GROUPS, codec.encodeRowSync(GROUPS, group)),
    group,
  );
});

Deno.test("a value is bound to its table, column and the row's whole key", () => {
  const codec = new FieldCodec(FieldCipher.fromKeySync(generateKey()));
  const row = { chat_id: -5, user_id: 1, text: "hello", shared_at: 3 };
  const stored = codec.encodeRowSync(NOTES_SHARED, row);
  assert.deepEqual(codec.decodeRowSync(NOTES_SHARED, stored), row);
  assert.throws(
    () => codec.decodeRowSync(NOTES_SHARED, { ...stored, chat_id: -6 }),
    (error: Error) =>
      error instanceof DamagedRecordError && error.key === "-6,1" &&
      error.kind === "shared note" && error.columns.join() === "text",
  );
  assert.throws(
    () => codec.decodeRowSync(NOTES_ENTRIES, { ...stored, note_id: -5 }),
    DamagedRecordError,
  );
  // Without a key, rows are stored and read as they are.
  assert.deepEqual(new FieldCodec().encodeRowSync(NOTES_SHARED, row), row);
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
