/**
 * The installed plugins, in order: the bot (`main.ts`) and the CLI
 * (`cli.ts`) both read this list, so every privacy tool knows every table
 * a plugin stores. To install a plugin, import it and add it below;
 * docs/plugins.md says what that brings with it.
 *
 * @module
 */
import type { Plugin } from "./src/bot/plugin.ts";
import { type Catalog, catalogOf } from "./src/base/tables.ts";
import {
  helpPlugin,
  privacyPlugin,
  registrationPlugin,
} from "./src/bot/core_plugins.ts";

export type { Plugin } from "./src/bot/plugin.ts";
export type { Catalog } from "./src/base/tables.ts";
export { catalogOf } from "./src/base/tables.ts";

/** The installed plugins; registration first, then each plugin's handlers in this order. */
export const plugins: readonly Plugin[] = [
  registrationPlugin,
  helpPlugin,
  privacyPlugin,
];

/** Everything the installed plugins store, checked (`catalogOf(plugins)`). */
export function installedCatalog(): Catalog {
  return catalogOf(plugins);
}
