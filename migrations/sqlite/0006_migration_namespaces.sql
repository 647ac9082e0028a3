-- Plugins number their migrations in their own namespace, so the applied
-- versions are recorded per namespace. Every earlier row is the project's
-- own ('core'). SQLite cannot change a primary key in place: the table is
-- made again and the rows moved. The default keeps the insert of a core
-- migration the same as before.
CREATE TABLE schema_migrations_by_namespace (
  namespace TEXT NOT NULL DEFAULT 'core',
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, version)
);
INSERT INTO schema_migrations_by_namespace (namespace, version, name, applied_at)
  SELECT 'core', version, name, applied_at FROM schema_migrations;
DROP TABLE schema_migrations;
ALTER TABLE schema_migrations_by_namespace RENAME TO schema_migrations;
