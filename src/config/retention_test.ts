import assert from "node:assert/strict";
import { ConfigError } from "../base/errors.ts";
import { loadRetention } from "./retention.ts";

Deno.test("by default a block erases and nothing expires", () => {
  assert.deepEqual(loadRetention({}), {
    eraseOnBlock: true,
    retentionDays: undefined,
  });
  assert.deepEqual(loadRetention({ ERASE_ON_BLOCK: "", RETENTION_DAYS: " " }), {
    eraseOnBlock: true,
    retentionDays: undefined,
  });
});

Deno.test("ERASE_ON_BLOCK and RETENTION_DAYS are read when valid", () => {
  assert.deepEqual(
    loadRetention({ ERASE_ON_BLOCK: "false", RETENTION_DAYS: "30" }),
    { eraseOnBlock: false, retentionDays: 30 },
  );
  assert.equal(loadRetention({ ERASE_ON_BLOCK: "true" }).eraseOnBlock, true);
});

Deno.test("a bad ERASE_ON_BLOCK or RETENTION_DAYS is refused, quoting the value", () => {
  for (const value of ["no", "0", "FALSE"]) {
    assert.throws(
      () => loadRetention({ ERASE_ON_BLOCK: value }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message ===
          `ERASE_ON_BLOCK must be true or false, got "${value}"`,
    );
  }
  for (const value of ["0", "-1", "1.5", "30d", "3651", "99999"]) {
    assert.throws(
      () => loadRetention({ RETENTION_DAYS: value }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.startsWith("RETENTION_DAYS must be a whole number") &&
        error.message.endsWith(`got "${value}"`),
    );
  }
});
