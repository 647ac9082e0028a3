import assert from "node:assert/strict";
import { sleep, Stopper } from "./stopper.ts";

Deno.test("the first stop aborts the signal; a second one is only noted", async () => {
  const lines: string[] = [];
  const exits: number[] = [];
  let exited!: () => void;
  const exit = new Promise<void>((resolve) => exited = resolve);
  const stopper = new Stopper({
    timeoutMs: 20,
    write: (line) => lines.push(line),
    exit: (code) => {
      exits.push(code);
      exited();
    },
  });
  assert.equal(stopper.stopping, false);
  stopper.stop("SIGTERM");
  stopper.stop("SIGTERM");
  assert.equal(stopper.signal.aborted, true);
  assert.deepEqual(lines, [
    "info: SIGTERM: stopping, finishing the work in hand",
    "info: SIGTERM again: already stopping",
  ]);
  assert.deepEqual(exits, []);
  // One deadline, however many signals came.
  await exit;
  await sleep(60);
  assert.deepEqual(exits, [0]);
});

Deno.test("a stop past its deadline closes what was registered and exits 0", async () => {
  const events: string[] = [];
  let exited!: () => void;
  const exit = new Promise<void>((resolve) => exited = resolve);
  const stopper = new Stopper({
    timeoutMs: 10,
    write: (line) => events.push(line.split(":")[0]!),
    exit: (code) => {
      events.push(`exit ${code}`);
      exited();
    },
  });
  stopper.onDeadline(async () => {
    await sleep(1);
    events.push("store closed");
  });
  const unregistered = stopper.onDeadline(() => {
    events.push("closed after unregistering");
    return Promise.resolve();
  });
  unregistered();
  stopper.stop("SIGINT");
  await exit;
  assert.deepEqual(events, ["info", "warning", "store closed", "exit 0"]);
});

Deno.test("sleep ends early, without error, when the signal aborts", async () => {
  const controller = new AbortController();
  const slept = sleep(60_000, controller.signal);
  controller.abort();
  await slept;
  await sleep(60_000, controller.signal);
});
