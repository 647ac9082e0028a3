import assert from "node:assert/strict";
import { openTestStore, tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { sh, tmpfs } from "./_sh.ts";

// A small tmpfs, so that a full disk is real and harms nothing; mounting
// needs root, which CI has. Elsewhere the test is skipped, saying why.
const probe = await Deno.makeTempDir({ prefix: "privacy_bot_mount_" });
const mountable = (await sh(`mount -t tmpfs -o size=64k tmpfs '${probe}'`)).ok;
if (mountable) await sh(`umount '${probe}'`);
await Deno.remove(probe);
if (!mountable && Deno.env.get("CI") === "true") {
  throw new Error("Cannot mount a tmpfs for the full-disk tests: run as root");
}

// A database of 3,000 users with long names: about 1 MB to write out.
async function fillDatabase(path: string): Promise<void> {
  const store = await openTestStore(path);
  await store.register(
    Array.from({ length: 3000 }, (_, i) => ({
      user: {
        id: i + 1,
        username: null,
        first_name: "x".repeat(200),
        last_name: null,
        language_code: null,
      },
    })),
    1,
  );
  await store.close();
}

Deno.test({
  name:
    "a full disk names the file being written, never the database read, and exits 3 for backup, export and keygen",
  ignore: !mountable,
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/bot.db`;
    await fillDatabase(path);

    await using mounted = await tmpfs(`${dir.path}/full`, "512k");
    const full = mounted.path;
    const backup = await runCliProcess(
      ["--database", path, "backup", "--out", `${full}/bot.db`],
    );
    assert.equal(backup.code, 3, backup.stderr);
    assert.match(
      backup.stderr,
      new RegExp(
        `^error: Cannot write the backup file "${full}/bot\\.db": .*full`,
      ),
    );
    assert.doesNotMatch(backup.stderr, new RegExp(`"${path}"`));

    const exported = await runCliProcess(
      ["--database", path, "export", "--all", "--out", `${full}/all.json`],
    );
    assert.equal(exported.code, 3, exported.stderr);
    assert.match(
      exported.stderr,
      new RegExp(
        `^error: Cannot write the export file "${full}/all\\.json": No space left on device`,
      ),
    );

    // Now not even a key fits.
    await sh(`cat /dev/zero > '${full}/filler'`);
    const keygen = await runCliProcess([
      "keygen",
      "--out",
      `${full}/new.key`,
    ]);
    assert.equal(keygen.code, 3, keygen.stderr);
    assert.match(
      keygen.stderr,
      new RegExp(
        `^error: Cannot write the key file "${full}/new\\.key": No space left on device`,
      ),
    );
    // Nothing half-written is left behind.
    const left = [...Deno.readDirSync(full)].map((entry) => entry.name);
    assert.deepEqual(left, ["filler"]);
  },
});

Deno.test({
  name: "an export that fails is in the audit log as failed, not as done",
  ignore: !mountable,
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/bot.db`;
    await fillDatabase(path);
    await using mounted = await tmpfs(`${dir.path}/full`, "256k");
    const full = mounted.path;
    const exported = await runCliProcess(
      ["--database", path, "export", "--all", "--out", `${full}/all.json`],
    );
    assert.equal(exported.code, 3, exported.stderr);
    const done = await runCliProcess(
      ["--database", path, "export", "--user", "1"],
    );
    assert.equal(done.code, 0, done.stderr);
    const reread = await openTestStore(path);
    const [last, failed] = await reread.recentAudit(2);
    await reread.close();
    assert.equal(failed!.kind, "all");
    assert.equal(failed!.outcome, "failed");
    assert.equal(last!.kind, "user");
    assert.equal(last!.outcome, "done");
  },
});

Deno.test({
  name:
    "a database on a read-only file system is refused naming the real cause and the file",
  ignore: !mountable,
  async fn() {
    await using dir = await tempDir();
    await using mounted = await tmpfs(`${dir.path}/ro`, "1m");
    const mount = mounted.path;
    const path = `${mount}/bot.db`;
    const store = await openTestStore(path);
    await store.close();
    assert.ok((await sh(`mount -o remount,ro '${mount}'`)).ok);
    const result = await runCliProcess(["--database", path, "inspect"]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^error: Cannot open the SQLite database at "${path}": the file cannot be written: Read-only file system`,
      ),
    );
  },
});
