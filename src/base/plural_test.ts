import assert from "node:assert/strict";
import { plural } from "./plural.ts";

Deno.test("plural says one noun for one and the plural otherwise", () => {
  assert.equal(plural(1, "record"), "1 record");
  assert.equal(plural(0, "record"), "0 records");
  assert.equal(plural(2, "audit entry"), "2 audit entries");
  assert.equal(plural(1, "audit entry"), "1 audit entry");
});
