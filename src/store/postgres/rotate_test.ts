import assert from "node:assert/strict";
import { club, zoe } from "../_store_contract.ts";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import { execPg } from "../../../tests/_pg.ts";
import { readGroup, readUser, registerGroup, registerUser } from "../_seed.ts";
import { open, pgCase } from "./_test_support.ts";

const key = generateKey();

pgCase(
  "encrypted: rotation re-encrypts everything, reports progress; the new key reads, the old fails",
  async (db) => {
    const oldCipher = FieldCipher.fromKeySync(key);
    const newCipher = FieldCipher.fromKeySync(generateKey());
    let store = await open(db, oldCipher);
    for (let id = 1; id <= 1500; id++) {
      await store.register([{ user: { ...zoe, id } }], 1);
    }
    await registerGroup(store, club, 1);
    const progress: [number, number][] = [];
    assert.deepEqual(
      await store.rotateKey(newCipher, {
        onProgress: (done, total) => progress.push([done, total]),
      }),
      { records: 1501, remaining: 0 },
    );
    assert.deepEqual(progress, [
      [0, 1501],
      [1000, 1501],
      [1500, 1501],
      [1501, 1501],
    ]);
    assert.equal((await readUser(store, 77))?.username, "zoe_secret");
    await store.close();
    await assert.rejects(open(db, oldCipher), WrongKeyError);
    store = await open(db, newCipher);
    assert.deepEqual(await readGroup(store, -500), {
      ...club,
      registered_at: 1,
      seen_on: null,
    });
    await store.close();
  },
);

pgCase(
  "encrypted: a rotation that fails midway leaves every value readable with both keys",
  async (db) => {
    const oldCipher = FieldCipher.fromKeySync(key);
    const store = await open(db, oldCipher);
    await store.register(
      Array.from(
        { length: 1500 },
        (_, i) => ({ user: { ...zoe, id: i + 1 } }),
      ),
      1,
    );
    // A damaged record on the second page stops the rotation there.
    await execPg(
      db,
      (sql) =>
        sql`UPDATE users SET first_name = 'v1.' || substr(first_name, 4, 9) || 'garbage'
          WHERE id = 1200`,
    );
    const newCipher = FieldCipher.fromKeySync(generateKey());
    await assert.rejects(store.rotateKey(newCipher), TamperedError);
    await store.close();
    // The first page moved, the rest did not: the keyring reads both.
    const reopened = await open(db, newCipher.including(oldCipher));
    assert.deepEqual((await reopened.summary()).valuesByKeyId, {
      // Three values a user: username, first and last name.
      [newCipher.keyId]: 3000,
      [oldCipher.keyId]: 1500,
    });
    assert.equal((await readUser(reopened, 1))?.first_name, "Zoëname");
    assert.equal((await readUser(reopened, 1500))?.first_name, "Zoëname");
    await reopened.close();
  },
);

pgCase(
  "encrypted: after another process rotated the key, the old key writes nothing",
  async (db) => {
    const oldCipher = FieldCipher.fromKeySync(key);
    const bot = await open(db, oldCipher);
    await registerUser(bot, zoe, 1);
    const cli = await open(db, oldCipher);
    const newCipher = FieldCipher.fromKeySync(generateKey());
    await cli.rotateKey(newCipher);
    await cli.close();
    await assert.rejects(
      registerUser(bot, { ...zoe, id: 78 }, 2),
      (error: Error) =>
        error instanceof WrongKeyError &&
        /database was encrypted with key \w+ by another process/.test(
          error.message,
        ),
    );
    await assert.rejects(bot.checkWritable(), WrongKeyError);
    await bot.close();
    const reopened = await open(db, newCipher);
    assert.equal(await readUser(reopened, 78), undefined);
    assert.equal((await readUser(reopened, 77))?.first_name, "Zoëname");
    await reopened.close();
  },
);

pgCase(
  "the write probe fails while a key rotation holds the key check, and passes after",
  async (db) => {
    const store = await open(db, FieldCipher.fromKeySync(key));
    await store.checkWritable();
    const events: string[] = [];
    await execPg(db, async (sql) => {
      await sql.begin(async (tx) => {
        await tx`SELECT key_id FROM data_key_check WHERE id = 1 FOR UPDATE`;
        events.push("locked");
        await store.checkWritable().then(
          () => events.push("probe passed"),
          (error) => events.push(`probe failed: ${error.name}`),
        );
        // Reads go on meanwhile.
        await store.schemaVersion();
        events.push("read");
      });
    });
    await store.checkWritable();
    events.push("probe passed");
    assert.deepEqual(events, [
      "locked",
      "probe failed: StoreError",
      "read",
      "probe passed",
    ]);
    await store.close();
  },
);
