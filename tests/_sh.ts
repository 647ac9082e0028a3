/** What a shell command said: whether it succeeded, and its stderr. */
export interface ShResult {
  ok: boolean;
  stderr: string;
}

/**
 * Runs a `sh -c` script for a test's set-up (mounting a small file system,
 * limiting a process), reporting failure instead of throwing.
 */
export async function sh(script: string): Promise<ShResult> {
  const output = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  return {
    ok: output.success,
    stderr: new TextDecoder().decode(output.stderr).trim(),
  };
}

/**
 * A small tmpfs mounted at a new folder `dir` (needs root), unmounted when
 * disposed: a real full or read-only file system that harms nothing else.
 */
export async function tmpfs(
  dir: string,
  size: string,
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  await Deno.mkdir(dir);
  const mounted = await sh(`mount -t tmpfs -o size=${size} tmpfs '${dir}'`);
  if (!mounted.ok) throw new Error(`Cannot mount a tmpfs: ${mounted.stderr}`);
  return {
    path: dir,
    [Symbol.asyncDispose]: async () => void await sh(`umount '${dir}'`),
  };
}
