/**
 * Reference: the cheapest webhook answer (read the body, answer 200) with
 * no grammY, so the bench shows how close bare grammY is to what the load
 * generator and Deno's HTTP server can do on this machine. Started by
 * `webhook_bench.ts` with PORT in its environment.
 */
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT")),
  onListen: () => {},
}, async (request) => {
  await request.arrayBuffer();
  return new Response("OK");
});
Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
