import assert from "node:assert/strict";
import { openSqliteStore } from "../store/sqlite/open.ts";
import { CliError } from "./cli_error.ts";
import { memoryIo } from "./_memory_io.ts";
import { purge, PURGE_ALL_PHRASE } from "./purge.ts";
import {
  readGroup,
  readUser,
  registerGroup,
  registerUser,
} from "../store/_seed.ts";

async function storeWithAlice() {
  const store = await openSqliteStore(":memory:");
  await registerUser(store, {
    id: 1,
    username: "alice",
    first_name: "Alice",
    last_name: null,
    language_code: null,
  }, 0);
  await registerGroup(store, {
    id: -2,
    username: null,
    title: "G",
    type: "group",
  }, 0);
  return store;
}

// The operator said no: a CliError with exit 2 saying nothing was deleted.
function cancelled(error: unknown): boolean {
  return error instanceof CliError && error.exitCode === 2 &&
    error.message === "Cancelled: nothing was deleted";
}

Deno.test("on a terminal, purge shows the record and deletes only after y", async () => {
  const store = await storeWithAlice();
  let io = memoryIo({ interactive: true, answers: ["N"] });
  await assert.rejects(
    purge(store, { target: { kind: "user", id: 1 }, io }),
    cancelled,
  );
  assert.match(io.err.join(""), /^user 1\n {2}username: +alice/);
  assert.deepEqual(io.questions, ["Delete this user? [y/N] "]);
  assert.notEqual(await readUser(store, 1), undefined);

  io = memoryIo({ interactive: true, answers: [""] });
  await assert.rejects(
    purge(store, { target: { kind: "user", id: 1 }, io }),
    cancelled,
  );
  assert.notEqual(await readUser(store, 1), undefined);
  io = memoryIo({ interactive: true, answers: ["yes"] });
  await purge(store, { target: { kind: "user", id: 1 }, io });
  assert.equal(await readUser(store, 1), undefined);
  await store.close();
});

Deno.test("purge --all on a terminal needs the exact phrase", async () => {
  const store = await storeWithAlice();
  await assert.rejects(
    purge(store, {
      target: { kind: "all" },
      io: memoryIo({ interactive: true, answers: ["y"] }),
    }),
    cancelled,
  );
  assert.equal((await store.summary()).rows.users, 1);
  const io = memoryIo({ interactive: true, answers: [PURGE_ALL_PHRASE] });
  await purge(store, { target: { kind: "all" }, io });
  assert.match(io.err.join(""), /all records: 1 user and 1 group\n/);
  const summary = await store.summary();
  assert.deepEqual(summary.rows, { users: 0, groups: 0 });
  await store.close();
});

Deno.test("purge with --yes does not ask, even on a terminal", async () => {
  const store = await storeWithAlice();
  const io = memoryIo({ interactive: true });
  await purge(store, { target: { kind: "group", id: -2 }, yes: true, io });
  assert.deepEqual(io.questions, []);
  assert.equal(await readGroup(store, -2), undefined);
  assert.deepEqual(
    (await store.recentAudit(5)).map((
      e,
    ) => [e.actor, e.action, e.kind, e.records]),
    [["cli", "purge", "group", 1]],
  );
  await store.close();
});

Deno.test("a record deleted by someone else between look-up and purge exits 1", async () => {
  const store = await storeWithAlice();
  // The real store, with the bot's own purge (a /deleteme) landing just
  // before the command's.
  const racing = new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name !== "purge") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return async (...args: Parameters<typeof target.purge>) => {
        await target.purge({ kind: "user", id: 1 }, "bot");
        return await target.purge(...args);
      };
    },
  });
  await assert.rejects(
    purge(racing, {
      target: { kind: "user", id: 1 },
      yes: true,
      io: memoryIo(),
    }),
    (error: unknown) =>
      error instanceof CliError && error.exitCode === 1 &&
      error.message === 'No user with id "1" is stored',
  );
  // Only the bot's purge is logged: the command deleted nothing.
  assert.deepEqual(
    (await store.recentAudit(5)).map((entry) => entry.actor),
    ["bot"],
  );
  await store.close();
});
