import assert from "node:assert/strict";
import { memoryIo } from "./_memory_io.ts";
import { Progress, startProgress } from "./progress.ts";

Deno.test("on a terminal, progress shows done of total and is cleared at the end", async () => {
  const io = memoryIo({ stderrIsTerminal: true });
  const progress = new Progress(io, { label: "Exporting" });
  assert.equal(progress.enabled, true);
  progress.update(0, 20_000);
  await progress.finish();
  assert.deepEqual(io.err, [
    "\r\x1b[KExporting: 0 of 20,000 records (0%)",
    "\r\x1b[K",
  ]);
});

Deno.test("without a terminal, or with --quiet, progress writes nothing", async () => {
  for (
    const [io, quiet] of [
      [memoryIo({ stderrIsTerminal: false }), false],
      [memoryIo({ stderrIsTerminal: true }), true],
    ] as const
  ) {
    const progress = startProgress(io, { label: "Copying", total: 5, quiet });
    progress.update(5, 5);
    await progress.finish();
    assert.equal(progress.enabled, false);
    assert.deepEqual(io.err, []);
  }
});

Deno.test("a progress that never drew leaves the terminal alone", async () => {
  const io = memoryIo({ stderrIsTerminal: true });
  await new Progress(io, { label: "Re-encrypting" }).finish();
  assert.deepEqual(io.err, []);
});

Deno.test("work with nothing to do draws nothing", async () => {
  const io = memoryIo({ stderrIsTerminal: true });
  const progress = new Progress(io, { label: "Encrypting the database" });
  progress.update(0, 0);
  await progress.finish();
  assert.deepEqual(io.err, []);
});
