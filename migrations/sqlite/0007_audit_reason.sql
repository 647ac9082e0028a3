-- Erasures that Telegram's own updates cause (a person blocking the bot, the
-- bot's removal from a group) and those the project makes on its own (the
-- retention sweep, the bot's end) are logged like a request: the actor
-- 'telegram' joins 'cli' and 'bot', and every purge says why it happened.
-- A CHECK constraint cannot change in SQLite: the table is made again and
-- the rows moved, ids kept. Earlier purges were all requests.
CREATE TABLE audit_log_with_reason (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL CHECK (actor IN ('cli', 'bot', 'telegram')),
  action TEXT NOT NULL CHECK (action IN ('export', 'purge')),
  kind TEXT NOT NULL CHECK (kind IN ('user', 'group', 'all')),
  subject TEXT,
  records INTEGER NOT NULL,
  outcome TEXT NOT NULL DEFAULT 'done'
    CHECK (outcome IN ('started', 'done', 'failed')),
  reason TEXT CHECK (reason IN
    ('request', 'blocked', 'removed', 'inactive', 'decommission'))
);
INSERT INTO audit_log_with_reason
  (id, at, actor, action, kind, subject, records, outcome, reason)
  SELECT id, at, actor, action, kind, subject, records, outcome,
         CASE action WHEN 'purge' THEN 'request' END
  FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_with_reason RENAME TO audit_log;
CREATE INDEX audit_log_subject ON audit_log (subject, action, at);
