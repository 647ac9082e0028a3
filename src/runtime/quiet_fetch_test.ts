import assert from "node:assert/strict";
import { createQuietFetch } from "./quiet_fetch.ts";

function serve(
  handler: (request: Request, port: number) => Response | Promise<Response>,
) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request, info) => handler(request, info.remoteAddr.port),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

Deno.test("the quiet fetch posts a body, reads the answer and keeps the connection for the next call", async () => {
  const ports: number[] = [];
  const server = serve(async (request, port) => {
    ports.push(port);
    return Response.json({
      method: request.method,
      path: new URL(request.url).pathname,
      type: request.headers.get("content-type"),
      body: await request.text(),
    });
  });
  const fetch = createQuietFetch();
  try {
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${server.url}/bot1:abc/getMe?x=${i}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"n":${i}}`,
      });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), {
        method: "POST",
        path: "/bot1:abc/getMe",
        type: "application/json",
        body: `{"n":${i}}`,
      });
    }
    assert.equal(ports.length, 2);
    assert.equal(ports[0], ports[1]);
  } finally {
    await server.close();
  }
});

// A multipart body as grammY streams it: strings and bytes.
async function* body() {
  yield "multi";
  yield new TextEncoder().encode("part");
}

Deno.test("the quiet fetch reads a chunked answer and sends a streamed body whole", async () => {
  const server = serve(async (request) => {
    const text = await request.text();
    const parts = [text, "-and-", "more"];
    return new Response(
      new ReadableStream({
        pull(controller) {
          const part = parts.shift();
          if (part === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(part));
        },
      }),
      { status: 201 },
    );
  });
  try {
    const response = await createQuietFetch()(`${server.url}/upload`, {
      method: "POST",
      body: body(),
    });
    assert.equal(response.status, 201);
    assert.equal(await response.text(), "multipart-and-more");
  } finally {
    await server.close();
  }
});

Deno.test("the quiet fetch gives up a call when its signal aborts", async () => {
  let release = () => {};
  const server = serve(() =>
    new Promise((resolve) => {
      release = () => resolve(new Response("late"));
    })
  );
  try {
    const controller = new AbortController();
    const call = createQuietFetch()(`${server.url}/slow`, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error("stopped")), 50);
    await assert.rejects(call, /stopped/);
  } finally {
    release();
    await server.close();
  }
});

Deno.test("the quiet fetch sends again on a fresh connection when a kept one was closed by the server", async () => {
  // A raw server that answers one request per connection, then closes it
  // while saying keep-alive, as a server whose idle timeout passed does.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      connections++;
      const buffer = new Uint8Array(4096);
      await conn.read(buffer);
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok",
        ),
      );
      conn.close();
    }
  })();
  try {
    const fetch = createQuietFetch();
    const url = `http://127.0.0.1:${listener.addr.port}/x`;
    assert.equal(await (await fetch(url)).text(), "ok");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await (await fetch(url)).text(), "ok");
    assert.equal(connections, 2);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});
