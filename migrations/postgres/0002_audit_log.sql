-- The privacy-request audit log: what was done, to which kind of record, when
-- and by whom. The subject is a keyed hash of the record's id, never a name
-- or username.
CREATE TABLE audit_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL CHECK (actor IN ('cli', 'bot')),
  action TEXT NOT NULL CHECK (action IN ('export', 'purge')),
  kind TEXT NOT NULL CHECK (kind IN ('user', 'group', 'all')),
  subject TEXT,
  records BIGINT NOT NULL
);

CREATE INDEX audit_log_subject ON audit_log (subject, action, at);

-- The key of the subject hash: 32 random bytes, made once per database.
-- gen_random_uuid() draws from the server's strong random source; two of them
-- give 32 bytes (244 of the bits random) without needing an extension.
CREATE TABLE audit_key (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  key BYTEA NOT NULL
);

INSERT INTO audit_key (id, key) VALUES (
  1,
  decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')
);
