-- The privacy-request audit log (SPEC section 6): what was done, to which kind
-- of record, when and by whom. The subject is a keyed hash of the record's id,
-- never a name or username; see PRIVACY.md for why.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL CHECK (actor IN ('cli', 'bot')),
  action TEXT NOT NULL CHECK (action IN ('export', 'purge')),
  kind TEXT NOT NULL CHECK (kind IN ('user', 'group', 'all')),
  subject TEXT,
  records INTEGER NOT NULL
);

CREATE INDEX audit_log_subject ON audit_log (subject, action, at);

-- The key of the subject hash: random, made once per database.
CREATE TABLE audit_key (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  key BLOB NOT NULL
);

INSERT INTO audit_key (id, key) VALUES (1, randomblob(32));
