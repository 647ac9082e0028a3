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
