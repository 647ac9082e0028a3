import assert from "node:assert/strict";
import { catalogOf, CORE_CATALOG } from "../base/tables.ts";
import { NOTES_DATA } from "../../examples/notes/data.ts";
import { catalogMigrations } from "./migrations.ts";

Deno.test("the catalog's migrations are the core's first, then each plugin's, each numbered from 1", async () => {
  for (const engine of ["sqlite", "postgres"] as const) {
    const all = await catalogMigrations(catalogOf([NOTES_DATA]), engine);
    assert.deepEqual(
      all.map(({ namespace, version, name }) =>
        `${namespace}/${version}_${name}`
      ),
      [
        "core/1_init",
        "core/2_audit_log",
        "core/3_data_key_check",
        "core/4_erasures_health_profile",
        "core/5_audit_outcome",
        "core/6_migration_namespaces",
        "core/7_audit_reason",
        "core/8_retention",
        "notes/1_notes",
      ],
    );
    assert.equal(
      (await catalogMigrations(CORE_CATALOG, engine)).length,
      8,
    );
  }
});

Deno.test("a plugin's missing migrations folder is named with the plugin", async () => {
  const missing = {
    name: "ghost",
    migrations: { sqlite: new URL("file:///nonexistent/ghost/") },
  };
  await assert.rejects(
    catalogMigrations(catalogOf([missing]), "sqlite"),
    /^Error: Plugin "ghost"'s migrations folder "\/nonexistent\/ghost\/" does not exist$/,
  );
  assert.deepEqual(
    (await catalogMigrations(catalogOf([missing]), "postgres")).length,
    8,
    "a plugin without a folder for an engine has no migrations there",
  );
});
