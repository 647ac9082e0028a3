import { readUser } from "../store/_seed.ts";
import assert from "node:assert/strict";
import { decodeKey, encodeKey } from "../crypto/data_key.ts";
import { FieldCipher, generateKey } from "../crypto/field_cipher.ts";
import { writeNewKeyFile } from "../crypto/key_file.ts";
import { openSqliteStore } from "../store/sqlite/open.ts";
import type { Store } from "../store/store.ts";
import { memoryIo } from "./_memory_io.ts";
import { rotateKey } from "./rotate_key.ts";
import { registerUser } from "../store/_seed.ts";

// The real store, with a look at the key files at the moment it rotates.
function watching(store: Store, seen: (() => void)[]): Store {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (name !== "rotateKey") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        for (const look of seen) look();
        return value.apply(target, args);
      };
    },
  });
}

Deno.test("the new key is in the key file, before the old one, when the database moves to it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keyFile = `${dir}/data.key`;
    const oldKey = generateKey();
    await writeNewKeyFile(keyFile, oldKey);
    const current = FieldCipher.fromKeySync(oldKey);
    const store = await openSqliteStore(`${dir}/bot.db`, { cipher: current });
    await registerUser(store, {
      id: 1,
      username: null,
      first_name: "A",
      last_name: null,
      language_code: null,
    }, 0);
    const during: string[] = [];
    const spied = watching(store, [() => {
      during.push(Deno.readTextFileSync(keyFile));
    }]);
    const io = memoryIo();
    await rotateKey(spied, {
      current,
      destination: { kind: "file", path: keyFile, keys: [oldKey] },
      io,
    });
    await store.close();
    const after = Deno.readTextFileSync(keyFile);
    assert.equal(during[0], after);
    const [newLine, oldLine, rest] = after.trim().split("\n");
    assert.equal(oldLine, encodeKey(oldKey));
    assert.equal(rest, undefined);
    assert.equal(Deno.statSync(keyFile).mode! & 0o777, 0o600);
    const newKey = decodeKey(newLine!, "key");
    const newId = (FieldCipher.fromKeySync(newKey)).keyId;
    assert.match(
      io.err.join(""),
      new RegExp(`Moved the database to key ${newId}`),
    );
    assert.match(
      io.err.join(""),
      new RegExp(`key ${current.keyId} can now be removed`),
    );
    // The new key alone opens the database now.
    const reopened = await openSqliteStore(`${dir}/bot.db`, {
      cipher: FieldCipher.fromKeySync(newKey),
    });
    assert.equal((await readUser(reopened, 1))?.first_name, "A");
    assert.equal((await reopened.summary()).keyId, newId);
    await reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
