import assert from "node:assert/strict";
import { ConfigError } from "../config/config.ts";
import { decodeKey, encodeKey, loadDataKey } from "./data_key.ts";
import { FieldCipher, generateKey } from "./field_cipher.ts";

async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DATA_ENCRYPTION_KEY wins over the key file", async () => {
  const key = generateKey();
  const found = await loadDataKey({
    DATA_ENCRYPTION_KEY: encodeKey(key),
    DATA_KEY_FILE: "/nonexistent",
  }, { create: true });
  assert.deepEqual(found?.key, key);
  assert.equal(found?.source, "DATA_ENCRYPTION_KEY");
});

Deno.test("a malformed key is refused without echoing it", () => {
  for (const bad of ["short", btoa("x".repeat(31)), "!!!!"]) {
    assert.throws(
      () => decodeKey(bad, "DATA_ENCRYPTION_KEY"),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.startsWith(
          "DATA_ENCRYPTION_KEY must be the base64 of 32 random bytes",
        ) &&
        !error.message.includes(bad),
    );
  }
});

Deno.test("without any key the CLI gets none and the bot creates an owner-only key file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/secrets/data.key`;
    assert.equal(
      await loadDataKey({ DATA_KEY_FILE: path }, { create: false }),
      undefined,
    );
    const created = await loadDataKey({ DATA_KEY_FILE: path }, {
      create: true,
    });
    assert.equal(created?.created, true);
    assert.equal(created?.path, path);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/secrets`)).mode! & 0o777, 0o700);
    const again = await loadDataKey({ DATA_KEY_FILE: path }, { create: true });
    assert.equal(again?.created, false);
    assert.deepEqual(again?.key, created?.key);
    // Made here without the cipher module, it is still a key the cipher takes.
    const cipher = FieldCipher.fromKeySync(created!.key);
    assert.ok(cipher instanceof FieldCipher);
  });
});

Deno.test("Deno Deploy needs DATA_ENCRYPTION_KEY: files do not last there", async () => {
  await assert.rejects(
    loadDataKey({ DENO_DEPLOYMENT_ID: "x" }, { create: true }),
    (error: Error) =>
      error instanceof ConfigError &&
      /^DATA_ENCRYPTION_KEY is required on Deno Deploy/.test(error.message),
  );
});

Deno.test("DATA_ENCRYPTION_KEYS_PREVIOUS adds previous keys, comma or whitespace separated", async () => {
  const [current, one, two] = [generateKey(), generateKey(), generateKey()];
  const found = await loadDataKey({
    DATA_ENCRYPTION_KEY: encodeKey(current),
    DATA_ENCRYPTION_KEYS_PREVIOUS: ` ${encodeKey(one)},\n ${encodeKey(two)} `,
  }, { create: false });
  assert.deepEqual(found?.key, current);
  assert.deepEqual(found?.previous, [one, two]);
  await assert.rejects(
    () =>
      loadDataKey({
        DATA_ENCRYPTION_KEY: encodeKey(current),
        DATA_ENCRYPTION_KEYS_PREVIOUS: "nope",
      }, { create: false }),
    /DATA_ENCRYPTION_KEYS_PREVIOUS must be the base64 of 32 random bytes/,
  );
});

Deno.test("previous keys without a current one in the variable are a configuration error", async () => {
  await assert.rejects(
    loadDataKey({
      DATA_ENCRYPTION_KEYS_PREVIOUS: encodeKey(generateKey()),
      DATA_KEY_FILE: "/nonexistent",
    }, { create: false }),
    (error: Error) =>
      error instanceof ConfigError &&
      /^DATA_ENCRYPTION_KEYS_PREVIOUS is set but DATA_ENCRYPTION_KEY is not/
        .test(error.message),
  );
});

Deno.test("a key file holds the current key first, previous keys after, and # labels", async () => {
  await inTempDir(async (dir) => {
    const [current, old] = [generateKey(), generateKey()];
    const path = `${dir}/data.key`;
    await Deno.writeTextFile(
      path,
      `# now\n${encodeKey(current)}\n\n# retired, id abcd\n${encodeKey(old)}\n`,
    );
    const found = await loadDataKey({ DATA_KEY_FILE: path }, {
      create: false,
    });
    assert.deepEqual(found?.key, current);
    assert.deepEqual(found?.previous, [old]);
  });
});
