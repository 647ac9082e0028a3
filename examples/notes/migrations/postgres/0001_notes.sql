-- The notes plugin's tables; their columns are described in data.ts.
CREATE TABLE notes_entries (
  user_id BIGINT NOT NULL,
  note_id BIGINT NOT NULL,
  text TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, note_id)
);

CREATE TABLE notes_shared (
  chat_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  text TEXT NOT NULL,
  shared_at BIGINT NOT NULL,
  PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX notes_shared_user ON notes_shared (user_id);
