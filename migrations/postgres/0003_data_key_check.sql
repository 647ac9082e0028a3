-- Encryption at rest: the names, usernames and titles in users and groups are
-- stored as AES-256-GCM ciphertexts (the program re-encrypts older plaintext
-- rows the first time it opens the database with a key).
-- This row lets a wrong key be caught when the store opens: it holds a known
-- text encrypted with the data key, never the key itself.
CREATE TABLE data_key_check (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  key_id TEXT NOT NULL,
  check_value TEXT NOT NULL
);
