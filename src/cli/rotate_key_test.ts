import assert from "node:assert/strict";
import { decodeKey, encodeKey } from "../crypto/data_key.ts";
import { FieldCipher, generateKey } from "../crypto/field_cipher.ts";
import { writeNewKeyFile } from "../crypto/key_file.ts";
import { openSqliteStore } from "../store/sqlite_store.ts";
import type { Store } from "../store/store.ts";
import { memoryIo } from "./_memory_io.ts";
import { rotateKey } from "./rotate_key.ts";

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

Deno.test("the new key is on disk before the database is rotated, and in place after", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keyFile = `${dir}/data.key`;
    const oldKey = generateKey();
    await writeNewKeyFile(keyFile, oldKey);
    const current = await FieldCipher.fromKey(oldKey);
    const store = await openSqliteStore(`${dir}/bot.db`, { cipher: current });
    await store.upsertUser({
      id: 1,
      username: null,
      first_name: "A",
      last_name: null,
      language_code: null,
    }, 0);
    const during: string[] = [];
    const spied = watching(store, [() => {
      during.push(Deno.readTextFileSync(keyFile).trim());
      during.push(Deno.readTextFileSync(`${keyFile}.new`).trim());
    }]);
    await rotateKey(spied, {
      current,
      destination: { kind: "file", path: keyFile },
      io: memoryIo(),
    });
    await store.close();
    const [liveDuring, stagedDuring] = during;
    assert.equal(liveDuring, encodeKey(oldKey));
    const after = Deno.readTextFileSync(keyFile).trim();
    assert.equal(stagedDuring, after);
    assert.notEqual(after, liveDuring);
    assert.equal(Deno.statSync(keyFile).mode! & 0o777, 0o600);
    // The key now in the file is the one the database is bound to.
    const reopened = await openSqliteStore(`${dir}/bot.db`, {
      cipher: await FieldCipher.fromKey(decodeKey(after, "key")),
    });
    assert.equal((await reopened.getUser(1))?.first_name, "A");
    await reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
