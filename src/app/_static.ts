// The page's files, served from src/app/static/ with their types; read
// once, then kept (they are small and never change while running).
const FILES: Record<string, [string, string]> = {
  "/app": ["index.html", "text/html; charset=utf-8"],
  "/app/": ["index.html", "text/html; charset=utf-8"],
  "/app/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/app/bridge.js": ["bridge.js", "text/javascript; charset=utf-8"],
  "/app/app.css": ["app.css", "text/css; charset=utf-8"],
};

const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/** The static file served at `path`, or undefined when there is none. */
export async function staticFile(path: string): Promise<Response | undefined> {
  const file = FILES[path];
  if (file === undefined) return undefined;
  const [name, type] = file;
  let body = cache.get(name);
  if (body === undefined) {
    body = await Deno.readFile(new URL(`./static/${name}`, import.meta.url));
    cache.set(name, body);
  }
  return new Response(body, {
    headers: { "content-type": type, "cache-control": "no-cache" },
  });
}
