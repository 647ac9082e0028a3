// Writing a file so that a reader sees it complete or not at all: written
// under a temporary name beside its place, flushed, then linked (never
// overwriting) or renamed into place, and its directory entry flushed too.
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
