import assert from "node:assert/strict";

// The browser tests have their own configuration and lockfile (their
// packages must not reach a fresh start of the bot): run as a child with
// it, the only test allowed to start Chromium.
Deno.test("the privacy center's browser tests pass in headless Chromium", async () => {
  const output = await new Deno.Command("deno", {
    args: [
      "test",
      "--config",
      "tests/browser/deno.json",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-run=deno,chromium",
      "tests/browser/",
    ],
    cwd: new URL("../", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  assert.ok(output.success, text);
  // Skipped only where Debian's chromium is not installed (.ci/run installs it).
  assert.match(text, /ok \| \d+ passed \| 0 failed/);
});
