import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { testCipher } from "./_db.ts";
import { killDuringBurst } from "./_kill_burst.ts";
import { createTestDatabase, pgTest } from "./_pg.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";

pgTest(
  "kill -9 during a burst of new senders on PostgreSQL loses no update that was answered 200",
  async () => {
    await using db = await createTestDatabase();
    const { confirmed, refused, killed } = await killDuringBurst(
      await startWebhookBot("unused", { env: { DATABASE_URL: db.url } }),
    );
    assert.ok(killed);
    assert.ok(refused > 0, "no request was cut by the kill");
    const store = await openPostgresStore(db.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    const stored = new Set<number>();
    for await (const record of store.iterate("users")) {
      stored.add(Number(record.id));
    }
    await store.close();
    const lost = confirmed.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${confirmed.length} lost`);
  },
);
