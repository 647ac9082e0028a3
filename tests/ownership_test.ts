// The CLI run as root against a service's files, which belong to the
// service's own user: what it replaces keeps its owner, group and mode, and
// what it creates in the service's folders comes with the exact chown that
// hands it over. Needs root (to give files to another user); skipped
// otherwise.
import assert from "node:assert/strict";
import { tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";

// The "nobody" user and group, present on every Linux system.
const SERVICE = 65534;

async function runningAsRoot(): Promise<boolean> {
  if (Deno.build.os === "windows") return false;
  const probe = await Deno.makeTempFile();
  try {
    return (await Deno.stat(probe)).uid === 0;
  } finally {
    await Deno.remove(probe);
  }
}

const asRoot = await runningAsRoot();

function rootTest(title: string, body: () => Promise<void>): void {
  Deno.test({ name: title, ignore: !asRoot, fn: body });
}

interface Owner {
  uid: number;
  gid: number;
  mode: number;
}

async function ownerOf(path: string): Promise<Owner> {
  const info = await Deno.stat(path);
  return { uid: info.uid!, gid: info.gid!, mode: info.mode! & 0o7777 };
}

// A service install in miniature: its data folder belongs to the service
// user; its configuration folder to root, shared with the service's group.
async function serviceFolders(base: string) {
  const lib = `${base}/lib`;
  const etc = `${base}/etc`;
  await Deno.mkdir(lib, { mode: 0o700 });
  await Deno.chown(lib, SERVICE, SERVICE);
  await Deno.mkdir(etc, { mode: 0o750 });
  await Deno.chmod(etc, 0o750);
  await Deno.chown(etc, 0, SERVICE);
  return { lib, etc, db: `${lib}/bot.db`, key: `${etc}/data.key` };
}

// Runs the command a warning line names, as the operator would paste it.
async function runSuggested(warning: string): Promise<void> {
  const command = warning.slice(warning.indexOf("run: ") + "run: ".length);
  const { code, stderr } = await new Deno.Command("sh", {
    args: ["-c", command],
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

function warningsOf(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.startsWith("warning: "));
}

rootTest(
  "migrate as root creating the service's database warns with the chown that hands it over",
  async () => {
    await using dir = await tempDir();
    const { db, key } = await serviceFolders(dir.path);
    const keygen = await runCliProcess(["keygen", "--out", key]);
    assert.equal(keygen.code, 0, keygen.stderr);
    const env = { DATA_ENCRYPTION_KEY: "", DATA_KEY_FILE: key };
    const created = await runCliProcess(["--database", db, "migrate"], env);
    assert.equal(created.code, 0, created.stderr);
    const [warning, ...more] = warningsOf(created.stderr);
    assert.deepEqual(more, []);
    assert.equal(
      warning,
      `warning: "${db}" belongs to root, but its folder to nobody: if the service runs as nobody, it cannot use the file until you run: chown nobody:nogroup ${db}`,
    );
    await runSuggested(warning!);
    assert.deepEqual(await ownerOf(db), {
      uid: SERVICE,
      gid: SERVICE,
      mode: 0o600,
    });

    // Run again on the service's database: nothing to warn about, and the
    // database with whatever SQLite left beside it stays the service's.
    const again = await runCliProcess(["--database", db, "migrate"], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, "");
    for (const file of [db, `${db}-wal`, `${db}-shm`]) {
      const owner = await ownerOf(file).catch(() => undefined);
      if (owner === undefined) continue;
      assert.deepEqual(
        owner,
        { uid: SERVICE, gid: SERVICE, mode: 0o600 },
        file,
      );
    }
  },
);

rootTest(
  "keygen as root into the service's configuration folder warns with the chown and chmod that let the service read the key",
  async () => {
    await using dir = await tempDir();
    const { key } = await serviceFolders(dir.path);
    const result = await runCliProcess(["keygen", "--out", key]);
    assert.equal(result.code, 0, result.stderr);
    const [warning, ...more] = warningsOf(result.stderr);
    assert.deepEqual(more, []);
    assert.equal(
      warning,
      `warning: "${key}" can be read by root only, but its folder is shared with the group nogroup: if the service runs in that group, it cannot read the file until you run: chown root:nogroup ${key} && chmod 0640 ${key}`,
    );
    await runSuggested(warning!);
    assert.deepEqual(await ownerOf(key), { uid: 0, gid: SERVICE, mode: 0o640 });
    // A key written where root's own files go needs no warning.
    const own = await runCliProcess([
      "keygen",
      "--out",
      `${dir.path}/root.key`,
    ]);
    assert.equal(own.code, 0, own.stderr);
    assert.deepEqual(warningsOf(own.stderr), []);
  },
);

rootTest(
  "rotate-key as root keeps the owner, group and mode of the key file and the database",
  async () => {
    await using dir = await tempDir();
    const { db, key } = await serviceFolders(dir.path);
    assert.equal((await runCliProcess(["keygen", "--out", key])).code, 0);
    const env = { DATA_ENCRYPTION_KEY: "", DATA_KEY_FILE: key };
    assert.equal(
      (await runCliProcess(["--database", db, "migrate"], env)).code,
      0,
    );
    // As the service recipe leaves them: the key readable by the service's
    // group, the database the service's own.
    await Deno.chown(key, SERVICE, SERVICE);
    await Deno.chmod(key, 0o640);
    await Deno.chown(db, SERVICE, SERVICE);
    const before = await Deno.readTextFile(key);

    const result = await runCliProcess(["--database", db, "rotate-key"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(await Deno.readTextFile(key), before);
    assert.deepEqual(await ownerOf(key), {
      uid: SERVICE,
      gid: SERVICE,
      mode: 0o640,
    });
    for (const file of [db, `${db}-wal`, `${db}-shm`]) {
      const owner = await ownerOf(file).catch(() => undefined);
      if (owner === undefined) continue;
      assert.deepEqual(
        owner,
        { uid: SERVICE, gid: SERVICE, mode: 0o600 },
        file,
      );
    }
    // The rotated database opens with the key the service now reads.
    const inspect = await runCliProcess(["--database", db, "inspect"], env);
    assert.equal(inspect.code, 0, inspect.stderr);
  },
);
