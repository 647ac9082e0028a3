import assert from "node:assert/strict";
import { readDb, tempDir } from "./_db.ts";
import { killDuringBurst } from "./_kill_burst.ts";
import { startWebhookBot } from "./_webhook_bot.ts";

Deno.test("kill -9 during a burst of new senders loses no update that was answered 200", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const { confirmed, refused, killed } = await killDuringBurst(
    await startWebhookBot(path),
  );
  assert.ok(killed);
  // The kill came in the middle of the burst: requests were in flight.
  assert.ok(refused > 0, "no request was cut by the kill");
  const stored = new Set((await readDb(path)).users.map((u) => u.id));
  const lost = confirmed.filter((id) => !stored.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${confirmed.length} lost`);
});
