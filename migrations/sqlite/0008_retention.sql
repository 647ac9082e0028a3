-- The day (UTC, 'YYYY-MM-DD', no time) each user and group was last seen,
-- kept only while a retention period (RETENTION_DAYS) is configured, so that
-- the daily sweep can erase those not seen for longer. Empty otherwise.
ALTER TABLE users ADD COLUMN seen_on TEXT;
ALTER TABLE groups ADD COLUMN seen_on TEXT;
CREATE INDEX users_seen_on ON users (seen_on);
CREATE INDEX groups_seen_on ON groups (seen_on);

-- Bookkeeping, no personal data: the retention period in force (days, null
-- when none), the day it was turned on (records stored before count as
-- seen that day), and the day the last daily sweep was claimed, so that one
-- instance sweeps per day however many share the database.
CREATE TABLE retention (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  days INTEGER,
  since TEXT,
  swept_on TEXT
);
INSERT INTO retention (id, days, since, swept_on) VALUES (1, NULL, NULL, NULL);
