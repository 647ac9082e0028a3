-- The notes plugin's tables; their columns are described in data.ts.
CREATE TABLE notes_entries (
  user_id INTEGER NOT NULL,
  note_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, note_id)
);

CREATE TABLE notes_shared (
  chat_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  shared_at INTEGER NOT NULL,
  PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX notes_shared_user ON notes_shared (user_id);
