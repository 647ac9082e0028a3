import assert from "node:assert/strict";
import { csvGroup, csvUser, isoTime } from "./formats.ts";

Deno.test("times are ISO 8601 UTC without fractions", () => {
  assert.equal(isoTime(1_795_960_800), "2026-11-29T14:00:00Z");
  assert.equal(isoTime(0), "1970-01-01T00:00:00Z");
});

Deno.test("CSV fields are quoted per RFC 4180 only when needed", () => {
  assert.equal(
    csvUser({
      id: 1,
      username: null,
      first_name: 'A "B", C',
      last_name: "x\r\ny",
      language_code: "en",
      registered_at: 0,
    }),
    'user,1,,"A ""B"", C","x\r\ny",en,,,1970-01-01T00:00:00Z\r\n',
  );
  assert.equal(
    csvGroup({
      id: -5,
      username: "g",
      title: "🦊",
      type: "group",
      registered_at: 0,
    }),
    "group,-5,g,,,,🦊,group,1970-01-01T00:00:00Z\r\n",
  );
});
