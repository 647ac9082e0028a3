import assert from "node:assert/strict";
import { createLogger } from "../base/log.ts";
import { createRedactor } from "../base/redact.ts";
import { StoreOutage } from "./store_outage.ts";

const TOKEN = "123456789:AAHtestSECRETtokenPART_0123456789abcd";

function outageWithLog(): { outage: StoreOutage; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger(createRedactor([TOKEN]), (line) => lines.push(line));
  const outage = new StoreOutage(log, {
    started: (cause) => `down: ${cause}`,
    ended: (failures) => `up after ${failures}`,
  });
  return { outage, lines };
}

Deno.test("an outage is one error line with the cause's first line and one info line with the count", () => {
  const { outage, lines } = outageWithLog();
  outage.recovered();
  assert.deepEqual(lines, []);
  outage.failed(new Error("disk full\n    at somewhere (file.ts:1:1)"));
  outage.failed(new Error("another cause"));
  outage.failed("not even an Error");
  assert.equal(outage.failures, 3);
  outage.recovered();
  outage.recovered();
  assert.deepEqual(lines, ["error: down: disk full", "info: up after 3"]);
  assert.equal(outage.failures, 0);
});

Deno.test("a second outage is told again, and the token never appears", () => {
  const { outage, lines } = outageWithLog();
  outage.failed(new Error(`connect failed for /bot${TOKEN}/getMe`));
  outage.recovered();
  outage.failed(new Error("locked"));
  outage.recovered();
  assert.equal(lines.length, 4);
  assert.equal(lines[2], "error: down: locked");
  assert.ok(!lines.join("\n").includes(TOKEN.split(":")[1]!));
});
