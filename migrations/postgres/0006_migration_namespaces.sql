-- Plugins number their migrations in their own namespace, so the applied
-- versions are recorded per namespace. Every earlier row is the project's
-- own ('core'); the default keeps the insert of a core migration the same
-- as before.
ALTER TABLE schema_migrations ADD COLUMN namespace TEXT NOT NULL DEFAULT 'core';
ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey;
ALTER TABLE schema_migrations ADD PRIMARY KEY (namespace, version);
