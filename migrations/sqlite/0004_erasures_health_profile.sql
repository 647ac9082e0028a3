-- Bookkeeping, no personal data.
-- A counter that every deletion of a record (a purge, the bot's removal from a
-- group, a group moving to its supergroup id) raises in the same transaction.
-- Every bot process reads it before skipping a write it believes is
-- unneeded, so an erasure made by any process is seen by all of them.
CREATE TABLE erasure_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO erasure_version (id, version) VALUES (1, 0);

-- One row rewritten by the health check: /healthz is 200 only when a write
-- like a registration's could be committed now. checked_at is in Unix
-- milliseconds, so that every probe really changes the row: SQLite writes
-- nothing for an update that leaves a row as it was, and would then succeed
-- on a full disk.
CREATE TABLE health (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
);
INSERT INTO health (id, checked_at) VALUES (1, 0);

-- The bot's own Telegram profile (getMe), stored by `setup` so that a new
-- instance can answer its first update without asking Telegram first. It
-- describes the bot, not a person.
CREATE TABLE bot_profile (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  profile TEXT NOT NULL,
  saved_at INTEGER NOT NULL
);
