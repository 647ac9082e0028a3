import assert from "node:assert/strict";
import {
  InitDataError,
  signInitData,
  signInitFields,
  validateInitData,
} from "./init_data.ts";

const TOKEN = "123456789:AAHtestSECRETtokenPART_0123456789abcd";
const OTHER = "987654321:AAHotherBOTtokenPART_0123456789abcd";
const NOW = 1_800_000_000;
const USER = JSON.stringify({
  id: 42,
  first_name: "Ann",
  language_code: "pt-br",
});

function fields(extra: Record<string, string> = {}): Record<string, string> {
  return {
    auth_date: String(NOW - 10),
    query_id: "AAH1",
    user: USER,
    ...extra,
  };
}

function refusal(raw: string, token = TOKEN, maxAgeSeconds = 3600): string {
  try {
    validateInitData(raw, token, { maxAgeSeconds, now: NOW });
  } catch (error) {
    assert.ok(error instanceof InitDataError);
    return error.reason;
  }
  assert.fail("the init data was accepted");
}

Deno.test("init data signed with the bot's token is accepted and read", () => {
  const data = validateInitData(
    signInitData(fields({ start_param: "g-100" }), TOKEN),
    TOKEN,
    { maxAgeSeconds: 3600, now: NOW },
  );
  assert.deepEqual(data, {
    user: { id: 42, firstName: "Ann", languageCode: "pt-br" },
    authDate: NOW - 10,
    startParam: "g-100",
  });
});

Deno.test("the hash is Telegram's: HMAC of the sorted data-check string keyed with HMAC(WebAppData, token)", async () => {
  // Computed independently with Web Crypto, from the documented recipe.
  const encoder = new TextEncoder();
  const hmac = async (key: Uint8Array, text: string) => {
    const imported = await crypto.subtle.importKey(
      "raw",
      key as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(
      await crypto.subtle.sign("HMAC", imported, encoder.encode(text)),
    );
  };
  const secret = await hmac(encoder.encode("WebAppData"), TOKEN);
  const check = `auth_date=${NOW - 10}\nquery_id=AAH1\nuser=${USER}`;
  const hex = Array.from(
    await hmac(secret, check),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  assert.equal(signInitFields(new Map(Object.entries(fields())), TOKEN), hex);
});

Deno.test("tampered init data is refused", () => {
  const signed = new URLSearchParams(signInitData(fields(), TOKEN));
  signed.set("user", USER.replace("42", "43"));
  assert.equal(refusal(signed.toString()), "signature");
});

Deno.test("init data older than the bound is refused as expired", () => {
  const raw = signInitData(fields({ auth_date: String(NOW - 3601) }), TOKEN);
  assert.equal(refusal(raw), "expired");
  // Within a larger bound the same data passes.
  validateInitData(raw, TOKEN, { maxAgeSeconds: 7200, now: NOW });
});

Deno.test("init data dated well in the future is refused", () => {
  const raw = signInitData(fields({ auth_date: String(NOW + 3600) }), TOKEN);
  assert.equal(refusal(raw), "expired");
});

Deno.test("init data signed for another bot is refused", () => {
  assert.equal(refusal(signInitData(fields(), OTHER)), "signature");
});

Deno.test("init data without a hash, or with none at all, is refused", () => {
  assert.equal(refusal(new URLSearchParams(fields()).toString()), "malformed");
  assert.equal(refusal(""), "missing");
});

Deno.test("init data repeating a key is refused even when one reading is signed", () => {
  const signed = signInitData(fields(), TOKEN);
  assert.equal(
    refusal(`${signed}&user=${encodeURIComponent(USER)}`),
    "malformed",
  );
});

Deno.test("the refusal never quotes the init data", () => {
  const raw = signInitData(fields({ auth_date: String(NOW - 9999) }), TOKEN);
  try {
    validateInitData(raw, TOKEN, { maxAgeSeconds: 60, now: NOW });
    assert.fail("accepted");
  } catch (error) {
    assert.ok(!(error as Error).message.includes("Ann"));
    assert.ok(!(error as Error).message.includes("42"));
  }
});
