import assert from "node:assert/strict";
import { unreachableCause } from "./until_reachable.ts";
import { openStore } from "../store/open_store.ts";
import { parseDatabaseUrl } from "../config/database_url.ts";

function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

Deno.test("a database not up yet is told apart from one that will not open by waiting", () => {
  const wrapped = (error: Error) =>
    new Error("Cannot open the PostgreSQL database", {
      cause: new Error("PostgreSQL failed", { cause: error }),
    });
  assert.equal(
    unreachableCause(wrapped(coded("connect ECONNREFUSED", "ECONNREFUSED"))),
    "connection refused",
  );
  assert.equal(
    unreachableCause(wrapped(coded("getaddrinfo EAI_AGAIN db", "EAI_AGAIN"))),
    "DNS lookup failed",
  );
  assert.equal(
    unreachableCause(
      wrapped(coded("the database system is starting up", "57P03")),
    ),
    "PostgreSQL: the database system is starting up",
  );
  assert.equal(
    unreachableCause(
      wrapped(coded("sorry, too many clients already", "53300")),
    ),
    "PostgreSQL: sorry, too many clients already",
  );
  assert.equal(
    unreachableCause(
      new Error("PostgreSQL did not answer within 30 s (opening the store)"),
    ),
    "no answer in time",
  );
  assert.equal(
    unreachableCause(wrapped(coded('database "x" does not exist', "3D000"))),
    undefined,
  );
  assert.equal(
    unreachableCause(
      wrapped(coded('password authentication failed for user "bot"', "28P01")),
    ),
    undefined,
  );
  assert.equal(
    unreachableCause(new Error("file is not a database")),
    undefined,
  );
});

Deno.test("the PostgreSQL driver's refused connection is recognised as one that may pass", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await openStore(
    parseDatabaseUrl(`postgres://postgres@127.0.0.1:${port}/bot`),
  ).then(() => undefined, (error: unknown) => error);
  assert.equal(unreachableCause(error), "connection refused");
});
