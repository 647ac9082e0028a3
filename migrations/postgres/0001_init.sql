-- The only personal data the bot keeps, the same columns as the SQLite schema.
-- Telegram ids are 64-bit and group ids negative: BIGINT. registered_at is
-- Unix seconds (UTC), BIGINT, set at the first sighting and never changed.
CREATE TABLE users (
  id BIGINT PRIMARY KEY,
  username TEXT,
  first_name TEXT NOT NULL,
  last_name TEXT,
  language_code TEXT,
  registered_at BIGINT NOT NULL
);

CREATE TABLE groups (
  id BIGINT PRIMARY KEY,
  username TEXT,
  title TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('group', 'supergroup')),
  registered_at BIGINT NOT NULL
);

-- Bookkeeping, no personal data: which numbered migrations have been applied.
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
);
