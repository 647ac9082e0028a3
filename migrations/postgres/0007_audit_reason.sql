-- Erasures that Telegram's own updates cause (a person blocking the bot, the
-- bot's removal from a group) and those the project makes on its own (the
-- retention sweep, the bot's end) are logged like a request: the actor
-- 'telegram' joins 'cli' and 'bot', and every purge says why it happened.
-- Earlier purges were all requests.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_check
  CHECK (actor IN ('cli', 'bot', 'telegram'));
ALTER TABLE audit_log ADD COLUMN reason TEXT CHECK (reason IN
  ('request', 'blocked', 'removed', 'inactive', 'decommission'));
UPDATE audit_log SET reason = 'request' WHERE action = 'purge';
