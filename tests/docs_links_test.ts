import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

// The pages a reader moves between: the README, the policy and docs/.
async function pages(): Promise<string[]> {
  const found = ["README.md", "PRIVACY.md"];
  for await (const entry of Deno.readDir(new URL("docs/", root))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      found.push(`docs/${entry.name}`);
    }
  }
  return found.sort();
}

// Fenced code is not Markdown: a `](` inside it is not a link.
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, "");
}

// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces
// made hyphens; a repeated heading gets -1, -2, ...
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of prose(text).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = match[1]!.trim().toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, "").replaceAll(" ", "-");
    const count = seen.get(slug);
    anchors.add(count === undefined ? slug : `${slug}-${count + 1}`);
    seen.set(slug, (count ?? -1) + 1);
  }
  return anchors;
}

function resolve(from: string, path: string): string {
  return new URL(path, new URL(from, "file:///")).pathname.slice(1);
}

Deno.test("every link between the README, PRIVACY.md and docs/ reaches an existing file and heading", async () => {
  const texts = new Map<string, string>();
  for (const page of await pages()) {
    texts.set(page, await Deno.readTextFile(new URL(page, root)));
  }
  assert.ok(texts.has("docs/configuration.md"), "docs/ was not read");
  const broken: string[] = [];
  let checked = 0;
  for (const [page, text] of texts) {
    for (const match of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      checked++;
      const [path, anchor] = target.split("#", 2) as [string, string?];
      const file = path === "" ? page : resolve(page, path);
      try {
        await Deno.stat(new URL(file, root));
      } catch {
        broken.push(`${page}: ${target} (no such file)`);
        continue;
      }
      if (anchor === undefined || !file.endsWith(".md")) continue;
      const text = texts.get(file) ??
        await Deno.readTextFile(new URL(file, root));
      if (!anchorsOf(text).has(anchor)) {
        broken.push(`${page}: ${target} (no such heading)`);
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} links were found`);
  assert.deepEqual(broken, []);
});
