-- How a privacy request ended. An export is logged as 'started' before any
-- record leaves the database, then marked 'done' or 'failed'; one that stays
-- 'started' was cut short (the process stopped). Purges commit with their
-- entry, so they are 'done'. Earlier entries were written on success.
ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'done'
  CHECK (outcome IN ('started', 'done', 'failed'));
