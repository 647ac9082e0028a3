// The /privacy text states exactly the rules the configuration sets: main.ts
// as a subprocess against the fake Bot API, once per configuration, in both
// languages. A rule configured but not shown (or shown but not configured)
// fails here.
import assert from "node:assert/strict";
import { tempDir } from "./_db.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

async function privacyText(
  env: Record<string, string>,
  language: string,
): Promise<string> {
  await using dir = await tempDir();
  const hook = await startWebhookBot(`${dir.path}/bot.db`, { env });
  try {
    const zoe = user(4201, { language_code: language });
    const before = hook.api.callsOf("sendMessage").length;
    assert.equal(
      await hook.post(withId(
        message(zoe, privateChat(zoe), {
          text: "/privacy",
          entities: [{ type: "bot_command", offset: 0, length: 8 }],
        }),
        1,
      )),
      200,
    );
    const sent = hook.api.callsOf("sendMessage").slice(before);
    assert.equal(sent.length, 1);
    return String(sent[0]!.params.text);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
}

// What each language says for each rule.
const SAYS = {
  en: {
    erasedOnBlock:
      /When you block me, your record and everything stored about you is deleted at once\./,
    keptOnBlock:
      /Blocking me does not delete your record \(the operator chose to keep it/,
    retention: (days: number) =>
      new RegExp(
        `not seen for more than ${days} days are deleted[^]*|the day I last saw you \\(the date only, no time\\): to delete your record after ${days} days`,
      ),
    keptUntilErased: /kept until you delete them or the bot is shut down/,
    dayShown: /the day I last saw you/,
    noLastSeen: /no "last seen"/,
  },
  "pt-br": {
    erasedOnBlock:
      /Quando você me bloqueia, o seu registro e tudo o que está guardado sobre você é apagado na hora\./,
    keptOnBlock: /Me bloquear não apaga o seu registro \(o operador escolheu/,
    retention: (days: number) =>
      new RegExp(`que eu não vejo há mais de ${days} dias são apagados`),
    keptUntilErased: /ficam guardados até você apagá-los/,
    dayShown: /o dia em que te vi por último/,
    noLastSeen: /nenhum "visto por último"/,
  },
};

for (const language of ["en", "pt-br"] as const) {
  const says = SAYS[language];
  Deno.test(`/privacy in ${language} promises erasure on block and no expiry when nothing else is configured`, async () => {
    const text = await privacyText({}, language);
    assert.match(text, says.erasedOnBlock);
    assert.doesNotMatch(text, says.keptOnBlock);
    assert.match(text, says.keptUntilErased);
    assert.match(text, says.noLastSeen);
    assert.doesNotMatch(text, says.dayShown);
  });

  Deno.test(`/privacy in ${language} shows a configured retention period and a block that keeps the record`, async () => {
    const text = await privacyText(
      { RETENTION_DAYS: "30", ERASE_ON_BLOCK: "false" },
      language,
    );
    assert.match(text, says.retention(30));
    assert.match(text, says.dayShown);
    assert.doesNotMatch(text, says.noLastSeen);
    assert.doesNotMatch(text, says.keptUntilErased);
    assert.match(text, says.keptOnBlock);
    assert.doesNotMatch(text, says.erasedOnBlock);
  });
}
