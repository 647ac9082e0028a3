-- The only personal data the bot keeps: SPEC section 2, documented in PRIVACY.md.
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT,
  first_name TEXT NOT NULL,
  last_name TEXT,
  language_code TEXT,
  registered_at INTEGER NOT NULL
);

CREATE TABLE groups (
  id INTEGER PRIMARY KEY,
  username TEXT,
  title TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('group', 'supergroup')),
  registered_at INTEGER NOT NULL
);

-- Bookkeeping, no personal data: which numbered migrations have been applied.
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
);
