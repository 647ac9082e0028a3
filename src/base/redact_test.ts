import assert from "node:assert/strict";
import { createRedactor, redactDeep } from "./redact.ts";

const TOKEN = "123456789:AAHtestSECRETtokenPART_0123456789abcd";

Deno.test("the secret part of the token is removed, the public bot id stays", () => {
  const redact = createRedactor([TOKEN]);
  assert.equal(
    redact(`GET /bot${TOKEN}/getMe`),
    "GET /bot123456789:[REDACTED]/getMe",
  );
  assert.equal(redact("nothing secret"), "nothing secret");
});

Deno.test("every string inside a nested value is redacted", () => {
  const redact = createRedactor([TOKEN, "webhooksecret1", undefined]);
  const value = {
    a: [{ url: `https://x/bot${TOKEN}/m` }],
    b: "webhooksecret1",
    n: 1,
  };
  assert.deepEqual(redactDeep(value, redact), {
    a: [{ url: "https://x/bot123456789:[REDACTED]/m" }],
    b: "[REDACTED]",
    n: 1,
  });
});
