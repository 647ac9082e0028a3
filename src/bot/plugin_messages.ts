// The installed plugins' messages, checked once at start so that a plugin
// can neither replace the project's words nor leave its own data unnamed.

import { isCoreTable, type TableDescription } from "../base/tables.ts";
import { commandsOf, type Plugin } from "./plugin.ts";
import { DEFAULT_LOCALE, LOCALES_DIR } from "./i18n.ts";

// A Fluent message's identifier at the start of a line (terms start with
// `-` and attributes with `.`: neither is a message).
const MESSAGE = /^([A-Za-z][A-Za-z0-9_-]*)[ \t]*=/gm;

/**
 * The messages a plugin must give in the default locale for `table`: its
 * line in the short policy, and its labels in `/privacy` (one per column
 * for a table of one row per subject, else its count of rows).
 */
export function tableMessages(table: TableDescription): string[] {
  return [
    `privacy-policy-${table.name}`,
    ...(table.key.length === 1
      ? table.columns.map((column) =>
        `privacy-column-${table.name}-${column.name}`
      )
      : [`privacy-rows-${table.name}`]),
  ];
}

/**
 * Throws `TypeError` (one line naming the plugin, the message and the
 * file) when a plugin's locale file defines a message the project or an
 * earlier plugin already defines, when a plugin's command has no
 * `cmd-<command>` in the default locale, or when a table of a plugin lacks
 * one of `tableMessages` there.
 */
export function checkPluginMessages(plugins: readonly Plugin[]): void {
  const owners = new Map<string, string>();
  const defaults = new Set<string>();
  const read = (folder: URL, owner: string, plugin?: string) => {
    for (const { locale, path, keys } of localeFiles(folder)) {
      for (const key of keys) {
        const earlier = owners.get(key);
        if (
          plugin !== undefined && earlier !== undefined && earlier !== owner
        ) {
          throw new TypeError(
            `Plugin "${plugin}" defines message "${key}" in ${path}, which ${earlier} already defines: start its messages with "${plugin}-"`,
          );
        }
        owners.set(key, owner);
        if (locale === DEFAULT_LOCALE) defaults.add(key);
      }
    }
  };
  read(LOCALES_DIR, "the project");
  const folders = new Set([LOCALES_DIR.href]);
  for (const plugin of plugins) {
    if (plugin.locales === undefined || folders.has(plugin.locales.href)) {
      continue;
    }
    folders.add(plugin.locales.href);
    read(plugin.locales, `plugin "${plugin.name}"`, plugin.name);
  }
  const lacking = (plugin: Plugin, key: string, what: string): never => {
    const where = plugin.locales === undefined
      ? "it has no locales folder"
      : `add it to ${
        new URL(`${DEFAULT_LOCALE}.ftl`, folderOf(plugin.locales)).pathname
      }`;
    throw new TypeError(
      `Plugin "${plugin.name}" ${what} has no message "${key}" in locale "${DEFAULT_LOCALE}": ${where}`,
    );
  };
  const byName = new Map(plugins.map((plugin) => [plugin.name, plugin]));
  for (const { plugin, command } of commandsOf(plugins)) {
    const key = `cmd-${command.command}`;
    if (!defaults.has(key)) {
      lacking(byName.get(plugin)!, key, `command "/${command.command}"`);
    }
  }
  for (const plugin of plugins) {
    for (const table of plugin.tables ?? []) {
      if (isCoreTable(table)) continue;
      for (const key of tableMessages(table)) {
        if (!defaults.has(key)) lacking(plugin, key, `table "${table.name}"`);
      }
    }
  }
}

function folderOf(url: URL): URL {
  return url.href.endsWith("/") ? url : new URL(`${url.href}/`);
}

function localeFiles(
  folder: URL,
): { locale: string; path: string; keys: string[] }[] {
  const dir = folderOf(folder);
  return [...Deno.readDirSync(dir)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".ftl"))
    .map((entry) => entry.name).sort().map((name) => {
      const text = Deno.readTextFileSync(new URL(name, dir));
      return {
        locale: name.slice(0, -".ftl".length),
        path: new URL(name, dir).pathname,
        keys: [...text.matchAll(MESSAGE)].map((match) => match[1]!),
      };
    });
}
