/**
 * Files the programs write (exports, backups, key files): complete or
 * absent, owner-only, never overwriting by accident, keeping the owner of a
 * file they replace. `fs/` knows nothing of the bot.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** A fresh temporary name beside `path`, in the same directory (so link and rename work). */
export function partialPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.partial-${crypto.randomUUID().slice(0, 8)}`,
  );
}

/**
 * Creates a new file that only its owner may read (mode 0600 exactly, not
 * narrowed by the umask alone); an existing file throws `AlreadyExists`.
 */
export async function createOwnerOnly(path: string): Promise<Deno.FsFile> {
  const file = await Deno.open(path, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  try {
    // The umask can only narrow the mode; this makes it exactly 0600.
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
  } catch (error) {
    file.close();
    await Deno.remove(path).catch(() => {});
    throw error;
  }
  return file;
}

/**
 * Puts the finished file `partial` at `path`: by link(2), which fails with
 * `AlreadyExists` when `path` appeared meanwhile, or with `replace` by
 * rename(2), which swaps the old file for the new in one step.
 */
export async function publishFile(
  partial: string,
  path: string,
  options: { replace: boolean },
): Promise<void> {
  if (options.replace) await Deno.rename(partial, path);
  else await Deno.link(partial, path);
}

/** Whether anything, even a dangling link, is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Flushes a directory, since a new or renamed file is durable only once its entry is. */
export async function syncDirectory(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const directory = await Deno.open(path, { read: true });
  try {
    await directory.sync();
  } finally {
    directory.close();
  }
}

/**
 * Gives `path` the owner, group and mode of `replaced`, the file it is about
 * to replace, so that a command run as root leaves the service's files as
 * readable to it as before. Nothing is done when `replaced` does not exist.
 */
export async function keepOwnership(
  replaced: string,
  path: string,
): Promise<void> {
  if (Deno.build.os === "windows") return;
  let old: Deno.FileInfo;
  try {
    old = await Deno.stat(replaced);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  const now = await Deno.stat(path);
  if (old.uid !== now.uid || old.gid !== now.gid) {
    await Deno.chown(path, old.uid, old.gid);
  }
  if ((old.mode! & 0o7777) !== (now.mode! & 0o7777)) {
    await Deno.chmod(path, old.mode! & 0o7777);
  }
}

/**
 * For a file a command has just created as root in a folder that belongs
 * to someone else (the service's user, or root with the service's group):
 * one line saying so, with the exact command that makes it the service's.
 * Undefined when the file's owner fits its folder.
 */
export async function ownershipWarning(
  path: string,
): Promise<string | undefined> {
  if (Deno.build.os === "windows") return undefined;
  const file = await Deno.stat(path);
  const folder = await Deno.stat(dirname(path));
  if (file.uid !== 0) return undefined;
  const quoted = shellQuote(path);
  const user = await nameOf("/etc/passwd", folder.uid!);
  const group = await nameOf("/etc/group", folder.gid!);
  if (folder.uid !== 0) {
    return `warning: "${path}" belongs to root, but its folder to ${user}: if the service runs as ${user}, it cannot use the file until you run: chown ${user}:${group} ${quoted}`;
  }
  if (folder.gid !== 0 && file.gid !== folder.gid) {
    return `warning: "${path}" can be read by root only, but its folder is shared with the group ${group}: if the service runs in that group, it cannot read the file until you run: chown root:${group} ${quoted} && chmod 0640 ${quoted}`;
  }
  return undefined;
}

// A user or group name from /etc/passwd or /etc/group, or the number
// itself when it has none there (chown takes either).
async function nameOf(table: string, id: number): Promise<string> {
  try {
    const text = await Deno.readTextFile(table);
    for (const line of text.split("\n")) {
      const [name, , number] = line.split(":");
      if (name && Number(number) === id) return name;
    }
  } catch {
    // Unreadable or absent: the number does as well.
  }
  return String(id);
}

function shellQuote(path: string): string {
  return /^[\w./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
