import assert from "node:assert/strict";
import type { Store } from "./store.ts";
import type { Catalog, Row } from "../base/tables.ts";
import { pluginContract } from "./_plugin_contract.ts";
import { auditContract } from "./_audit_contract.ts";
import { erasureContract } from "./_erasure_contract.ts";
import { alice } from "./_fixtures.ts";
import { gauntletGroups, gauntletUsers } from "./_unicode_gauntlet.ts";
import {
  moveGroup,
  purgeUser,
  readAll,
  readGroup,
  readUser,
  registerGroup,
  registerUser,
  removeGroup,
} from "./_seed.ts";

/** A user with every name field set, for checks that no name is stored in the clear. */
export const zoe = {
  id: 77,
  username: "zoe_secret",
  first_name: "Zoëname",
  last_name: "Lastname",
  language_code: "pt-br",
};

/** A supergroup with a username and title, for the same checks. */
export const club = {
  id: -500,
  username: "club_public",
  title: "Secret club title",
  type: "supergroup" as const,
};

/** Every name of `zoe` and `club`: none may be found in what is stored. */
export const plaintexts = [
  "zoe_secret",
  "Zoëname",
  "Lastname",
  "club_public",
  "Secret club title",
];

/** How the contract reaches the engine under test. */
export interface ContractTarget {
  /**
   * Opens a store on a fresh, empty database, holding the tables of
   * `catalog` (by default users and groups only).
   */
  open(catalog?: Catalog): Promise<Store>;
  /**
   * Opens another, independent connection to the database `store` is on, as
   * a second process or instance would, with the same catalog.
   */
  connectAgain(store: Store): Promise<Store>;
  /** How many migrations the engine has; a fresh store is at this version. */
  migrations: number;
  /** Whether the stores it opens encrypt with a data key. */
  encrypted: boolean;
  /** The rows of a table of `store`'s database as stored, read from outside. */
  stored(store: Store, table: string): Promise<Row[]>;
  /** Runs SQL on `store`'s database from outside the program. */
  exec(store: Store, sql: string): Promise<void>;
}

/**
 * The behaviour every `Store` must have, whatever the engine. Each store's
 * test file calls this with a target that opens fresh, empty databases.
 */
export function storeContract(name: string, target: ContractTarget): void {
  const test = (title: string, body: (store: Store) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const store = await target.open();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });
  // A second connection to the same database, closed after the test.
  const twoConnections = (
    title: string,
    body: (store: Store, other: Store) => Promise<void>,
  ) =>
    test(title, async (store) => {
      const other = await target.connectAgain(store);
      try {
        await body(store, other);
      } finally {
        await other.close();
      }
    });

  test("a new user is stored with its first sighting", async (store) => {
    await registerUser(store, alice, 1000);
    assert.deepEqual(await readUser(store, 1), {
      ...alice,
      registered_at: 1000,
      seen_on: null,
    });
    assert.equal(await readUser(store, 2), undefined);
  });

  test("an update changes the fields and never registered_at", async (store) => {
    await registerUser(store, alice, 1000);
    const changed = {
      ...alice,
      username: null,
      last_name: null,
      first_name: "Al",
      language_code: "pt-br",
    };
    await registerUser(store, changed, 2000);
    assert.deepEqual(await readUser(store, 1), {
      ...changed,
      registered_at: 1000,
      seen_on: null,
    });
  });

  test("names keep commas, quotes, emoji and the 64-bit id range", async (store) => {
    const odd = {
      id: 8_000_000_000_123,
      username: null,
      first_name: 'A, "B" 🦊',
      last_name: "null",
      language_code: null,
    };
    await registerUser(store, odd, 1);
    assert.deepEqual(await readUser(store, odd.id), {
      ...odd,
      registered_at: 1,
      seen_on: null,
    });
  });

  test("every value comes back byte for byte, whatever Unicode it holds", async (store) => {
    for (const user of gauntletUsers()) await registerUser(store, user, 1);
    for (const group of gauntletGroups()) await registerGroup(store, group, 2);
    for (const user of gauntletUsers()) {
      assert.deepEqual(await readUser(store, user.id), {
        ...user,
        registered_at: 1,
        seen_on: null,
      });
    }
    const listed = await readAll(store, "groups");
    assert.deepEqual(
      listed.sort((a, b) => Number(b.id) - Number(a.id)),
      gauntletGroups().map((group) => ({
        ...group,
        registered_at: 2,
        seen_on: null,
      })),
    );
  });

  test("compact keeps every record and the store goes on working", async (store) => {
    await registerUser(store, alice, 1);
    await registerUser(store, { ...alice, id: 2 }, 1);
    await store.purge({ kind: "user", id: 2 }, "cli");
    await store.compact();
    assert.deepEqual(await readUser(store, 1), {
      ...alice,
      registered_at: 1,
      seen_on: null,
    });
    await registerUser(store, { ...alice, id: 3 }, 2);
    assert.equal((await store.summary()).rows.users, 2);
  });

  test("groups are stored and updated keeping registered_at", async (store) => {
    await registerGroup(store, {
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 10);
    await registerGroup(store, {
      id: -5,
      username: "g_pub",
      title: "G2",
      type: "supergroup",
    }, 20);
    assert.deepEqual(await readGroup(store, -5), {
      id: -5,
      username: "g_pub",
      title: "G2",
      type: "supergroup",
      registered_at: 10,
      seen_on: null,
    });
  });

  test("moving a group keeps registered_at and leaves one record", async (store) => {
    await registerGroup(store, {
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 10);
    assert.equal(await moveGroup(store, -5, -1005), true);
    assert.equal(await readGroup(store, -5), undefined);
    assert.deepEqual(await readGroup(store, -1005), {
      id: -1005,
      username: null,
      title: "G",
      type: "supergroup",
      registered_at: 10,
      seen_on: null,
    });
    assert.equal(await moveGroup(store, -5, -1005), false);
  });

  test("moving onto an existing new record keeps the earliest registered_at", async (store) => {
    await registerGroup(store, {
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 10);
    await registerGroup(store, {
      id: -1005,
      username: null,
      title: "G new",
      type: "supergroup",
    }, 30);
    assert.equal(await moveGroup(store, -5, -1005), true);
    assert.equal(await readGroup(store, -5), undefined);
    const moved = await readGroup(store, -1005);
    assert.equal(moved?.registered_at, 10);
    assert.equal(moved?.title, "G new");
  });

  test("a purge and a removal report whether a record was there", async (store) => {
    await registerUser(store, alice, 1);
    await registerGroup(store, {
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 1);
    assert.equal(await purgeUser(store, 1), true);
    assert.equal(await purgeUser(store, 1), false);
    assert.equal(await removeGroup(store, -5), true);
    assert.equal(await removeGroup(store, -5), false);
    assert.equal(await readUser(store, 1), undefined);
  });

  test("a query succeeds while the store answers and rejects once it is closed", async (store) => {
    await store.schemaVersion();
    await store.close();
    await assert.rejects(store.schemaVersion());
  });

  test("the schema version is the number of migrations", async (store) => {
    assert.equal(await store.schemaVersion(), target.migrations);
    const summary = await store.summary();
    assert.equal(summary.schemaVersion, target.migrations);
    assert.equal(summary.versions.core, target.migrations);
  });

  twoConnections(
    "a purge, deletion or move by another connection changes the erasure version",
    async (store, other) => {
      await registerUser(store, alice, 1);
      await registerGroup(store, {
        id: -5,
        username: null,
        title: "G",
        type: "group",
      }, 1);
      await registerGroup(store, {
        id: -6,
        username: null,
        title: "H",
        type: "group",
      }, 1);
      await store.register([{ user: { ...alice, first_name: "Al" } }], 2);
      const seen = new Set([await store.erasureVersion()]);
      assert.equal(seen.size, 1, "registering is not an erasure");
      const changed = async (what: string) => {
        const version = await store.erasureVersion();
        assert.ok(!seen.has(version), `${what} did not change the version`);
        seen.add(version);
      };
      await other.purge({ kind: "user", id: 1 }, "cli");
      await changed("another connection's purge");
      await removeGroup(other, -6);
      await changed("another connection's deletion");
      await moveGroup(other, -5, -1005);
      await changed("another connection's move");
      await removeGroup(store, -1005);
      await changed("this connection's deletion");
      assert.equal(await other.purge({ kind: "user", id: 1 }, "cli"), 0);
      assert.ok(
        seen.has(await store.erasureVersion()),
        "nothing deleted, nothing changed",
      );
      // The bot's removal is an erasure even of a group no longer stored:
      // its audit entry keeps late updates out, and every cache must see it.
      await removeGroup(other, -6);
      await changed("a removal of a group not stored");
    },
  );

  test("a batch of plans is written all or nothing", async (store) => {
    await registerUser(store, alice, 1);
    await assert.rejects(
      store.register([
        { user: { ...alice, id: 2 } },
        { user: { ...alice, first_name: "Changed" } },
        { removeGroupId: -9 },
        // Not a type a group can have: the database refuses it.
        {
          group: {
            id: -5,
            username: null,
            title: "C",
            type: "channel" as "group",
          },
        },
      ], 5),
    );
    assert.equal(await readUser(store, 2), undefined);
    assert.equal((await readUser(store, 1))?.first_name, "Alice");
    assert.equal(await readGroup(store, -5), undefined);
    const result = await store.register([
      { user: { ...alice, id: 2 } },
      { user: { ...alice, first_name: "Changed" } },
      { group: { id: -5, username: null, title: "G", type: "group" } },
    ], 5);
    assert.deepEqual(result.erased, []);
    assert.equal((await readUser(store, 1))?.first_name, "Changed");
    assert.equal((await readUser(store, 1))?.registered_at, 1);
    assert.equal((await readUser(store, 2))?.registered_at, 5);
    assert.equal((await readGroup(store, -5))?.registered_at, 5);
  });

  test("an update sent before the user's purge does not register them; the same second does", async (store) => {
    await registerUser(store, alice, 1);
    await store.purge({ kind: "user", id: 1 }, "bot");
    const at = (await store.recentAudit(1))[0]!.at;
    assert.deepEqual(
      await store.register([{ user: alice, sentAt: at - 1 }], at + 5),
      { erased: [1] },
    );
    assert.equal(await readUser(store, 1), undefined);
    // Another user's purge is not this user's.
    await store.register([{ user: { ...alice, id: 2 }, sentAt: at - 1 }], at);
    assert.ok(await readUser(store, 2));
    assert.deepEqual(
      await store.register([{ user: alice, sentAt: at }], at + 5),
      { erased: [] },
    );
    assert.equal((await readUser(store, 1))?.registered_at, at + 5);
    await store.purge({ kind: "user", id: 1 }, "bot");
    await store.register([{ user: alice, sentAt: at + 1 }], at + 6);
    assert.equal((await readUser(store, 1))?.registered_at, at + 6);
    // Without a date (a button pressed now) it registers.
    await store.purge({ kind: "user", id: 1 }, "bot");
    await store.register([{ user: alice }], at + 7);
    assert.ok(await readUser(store, 1));
  });

  test("a purge of all records, or of a group, holds back older updates too", async (store) => {
    const group = {
      id: -5,
      username: null,
      title: "G",
      type: "group" as const,
    };
    await store.register([{ user: alice, group }], 1);
    await store.purge({ kind: "all" }, "cli");
    const at = (await store.recentAudit(1))[0]!.at;
    const old = await store.register(
      [{ user: alice, group, sentAt: at - 1 }],
      at,
    );
    assert.deepEqual(old.erased.sort(), [-5, 1]);
    assert.equal(await readUser(store, 1), undefined);
    assert.equal(await readGroup(store, -5), undefined);
    await store.register([{ user: alice, group, sentAt: at }], at);
    assert.ok(await readUser(store, 1));
    assert.ok(await readGroup(store, -5));
    await store.purge({ kind: "group", id: -5 }, "cli");
    const groupAt = (await store.recentAudit(1))[0]!.at;
    const late = await store.register([{ group, sentAt: groupAt - 1 }], 9);
    assert.deepEqual(late.erased, [-5]);
    assert.equal(await readGroup(store, -5), undefined);
    // The group's purge is not its members' erasure.
    assert.ok(await readUser(store, 1));
  });

  twoConnections(
    "concurrent first sightings on two connections keep one registered_at",
    async (store, other) => {
      for (let id = 1; id <= 20; id++) {
        const user = { ...alice, id };
        await Promise.all([
          store.register([{ user }], 100 + id),
          other.register(
            [{ user: { ...user, first_name: "Other" } }],
            200 + id,
          ),
        ]);
        const [mine, theirs] = [
          await readUser(store, id),
          await readUser(other, id),
        ];
        assert.deepEqual(mine, theirs);
        assert.ok(
          mine?.registered_at === 100 + id || mine?.registered_at === 200 + id,
        );
        await other.register([{ user }], 300 + id);
        assert.equal(
          (await readUser(store, id))?.registered_at,
          mine?.registered_at,
        );
      }
    },
  );

  test("iteration streams every record in id order", async (store) => {
    for (const id of [3, 1, 2]) await registerUser(store, { ...alice, id }, id);
    await registerGroup(store, {
      id: -7,
      username: null,
      title: "G7",
      type: "group",
    }, 1);
    await registerGroup(store, {
      id: -9,
      username: null,
      title: "G9",
      type: "group",
    }, 1);
    const users = (await readAll(store, "users")).map((user) => user.id);
    const groups = (await readAll(store, "groups")).map((group) => group.id);
    assert.deepEqual(users, [1, 2, 3]);
    assert.deepEqual(groups, [-9, -7]);
  });

  test("the summary counts records and spans registrations of both kinds", async (store) => {
    let summary = await store.summary();
    assert.deepEqual(
      [
        summary.rows.users,
        summary.rows.groups,
        summary.oldestRegistration,
        summary.newestRegistration,
      ],
      [0, 0, null, null],
    );
    await registerUser(store, alice, 500);
    summary = await store.summary();
    assert.deepEqual([summary.oldestRegistration, summary.newestRegistration], [
      500,
      500,
    ]);
    await registerGroup(store, {
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 100);
    await registerUser(store, { ...alice, id: 2 }, 900);
    summary = await store.summary();
    assert.deepEqual(
      [
        summary.rows.users,
        summary.rows.groups,
        summary.oldestRegistration,
        summary.newestRegistration,
      ],
      [2, 1, 100, 900],
    );
    assert.ok(summary.sizeBytes > 0);
  });
  auditContract(test);
  pluginContract(name, target);
  erasureContract(name, target);
}
