import type { Update } from "grammy/types";

// Telegram's own update kinds whose payload is a message: grammY's `ctx.msg`,
// `ctx.chat`, `ctx.from` and the command filters read these.
const MESSAGE_KINDS = [
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "business_message",
  "edited_business_message",
  "guest_message",
] as const;

// Kinds whose payload is a change of someone's membership in a chat.
const MEMBER_KINDS = ["my_chat_member", "chat_member"] as const;

const CHECKED_KINDS = new Set<string>([
  "update_id",
  ...MESSAGE_KINDS,
  "callback_query",
  ...MEMBER_KINDS,
]);

const CHAT_TYPES = new Set(["private", "group", "supergroup", "channel"]);

const MEMBER_STATUSES = new Set([
  "creator",
  "administrator",
  "member",
  "restricted",
  "left",
  "kicked",
]);

// Real updates nest about ten levels (a reply inside a message inside a
// button press); far deeper JSON can only be an attack on whatever walks it
// later (crash reports, logs), so it is refused early.
const MAX_DEPTH = 64;

/**
 * Checks the parts of an update the bot reads before anything else reads
 * them: ids are safe integers of the right sign, names, usernames, titles and
 * language codes are strings, chat types and member statuses are known values,
 * and every object the bot or grammY looks into has its expected shape. Extra
 * fields the bot never reads are left alone. Returns the update, or a
 * one-line reason why it is not a well-formed update (which never quotes a
 * name or other text from the update).
 */
export function checkUpdate(value: unknown): Update | string {
  try {
    if (!isRecord(value)) fail("the update must be an object", value);
    checkDepth(value);
    checkFields(value);
    return value as unknown as Update;
  } catch (error) {
    if (error instanceof MalformedError) return error.message;
    throw error;
  }
}

class MalformedError extends Error {}

type Fields = Record<string, unknown>;

function checkFields(update: Fields): void {
  nonNegative(update.update_id, "update_id");
  for (const kind of MESSAGE_KINDS) {
    if (kind in update) message(update[kind], kind);
  }
  if ("callback_query" in update) {
    callbackQuery(update.callback_query, "callback_query");
  }
  for (const kind of MEMBER_KINDS) {
    if (kind in update) memberUpdate(update[kind], kind);
  }
  for (const [kind, payload] of Object.entries(update)) {
    if (!CHECKED_KINDS.has(kind)) otherKind(payload, kind);
  }
}

function message(value: unknown, path: string): void {
  const msg = record(value, path);
  // An inaccessible message (an old one under a button) keeps only its
  // chat, its id and date 0.
  nonNegative(msg.message_id, `${path}.message_id`);
  nonNegative(msg.date, `${path}.date`);
  if (msg.edit_date !== undefined) {
    nonNegative(msg.edit_date, `${path}.edit_date`);
  }
  chat(msg.chat, `${path}.chat`);
  if (msg.from !== undefined) user(msg.from, `${path}.from`);
  if (msg.sender_chat !== undefined) {
    chat(msg.sender_chat, `${path}.sender_chat`);
  }
  if (msg.migrate_to_chat_id !== undefined) {
    negativeId(msg.migrate_to_chat_id, `${path}.migrate_to_chat_id`);
  }
  if (msg.migrate_from_chat_id !== undefined) {
    negativeId(msg.migrate_from_chat_id, `${path}.migrate_from_chat_id`);
  }
  if (msg.left_chat_member !== undefined) {
    user(msg.left_chat_member, `${path}.left_chat_member`);
  }
  optionalText(msg.text, `${path}.text`);
  optionalText(msg.caption, `${path}.caption`);
  entities(msg.entities, `${path}.entities`);
  entities(msg.caption_entities, `${path}.caption_entities`);
}

function callbackQuery(value: unknown, path: string): void {
  const query = record(value, path);
  text(query.id, `${path}.id`);
  user(query.from, `${path}.from`);
  if (query.message !== undefined) message(query.message, `${path}.message`);
  optionalText(query.data, `${path}.data`);
  optionalText(query.inline_message_id, `${path}.inline_message_id`);
  optionalText(query.chat_instance, `${path}.chat_instance`);
  optionalText(query.game_short_name, `${path}.game_short_name`);
}

function memberUpdate(value: unknown, path: string): void {
  const update = record(value, path);
  chat(update.chat, `${path}.chat`);
  user(update.from, `${path}.from`);
  nonNegative(update.date, `${path}.date`);
  member(update.old_chat_member, `${path}.old_chat_member`);
  member(update.new_chat_member, `${path}.new_chat_member`);
}

function member(value: unknown, path: string): void {
  const member = record(value, path);
  if (
    typeof member.status !== "string" || !MEMBER_STATUSES.has(member.status)
  ) {
    fail(`${path}.status must be a known member status`, member.status);
  }
  user(member.user, `${path}.user`);
}

// Kinds the bot does not ask Telegram for may still arrive (an old webhook
// setting): grammY's `ctx.from` and `ctx.chat` read their sender and chat.
function otherKind(value: unknown, path: string): void {
  if (!isRecord(value)) return;
  // Registration takes the time of a join request from its date.
  if (value.date !== undefined) nonNegative(value.date, `${path}.date`);
  if (value.from !== undefined) user(value.from, `${path}.from`);
  if (value.user !== undefined) user(value.user, `${path}.user`);
  if (value.chat !== undefined) chat(value.chat, `${path}.chat`);
  if (value.sender_chat !== undefined) {
    chat(value.sender_chat, `${path}.sender_chat`);
  }
  const source = isRecord(value.boost) ? value.boost.source : value.source;
  if (isRecord(source) && source.user !== undefined) {
    user(source.user, `${path}.source.user`);
  }
}

function user(value: unknown, path: string): void {
  const person = record(value, path);
  positiveId(person.id, `${path}.id`);
  if (typeof person.is_bot !== "boolean") {
    fail(`${path}.is_bot must be true or false`, person.is_bot);
  }
  text(person.first_name, `${path}.first_name`);
  optionalText(person.last_name, `${path}.last_name`);
  optionalText(person.username, `${path}.username`);
  optionalText(person.language_code, `${path}.language_code`);
}

function chat(value: unknown, path: string): void {
  const chat = record(value, path);
  if (typeof chat.type !== "string" || !CHAT_TYPES.has(chat.type)) {
    fail(`${path}.type must be a known chat type`, chat.type);
  }
  // Users have positive ids and groups, supergroups and channels negative
  // ones; the bot keys both kinds of record by id in one place.
  if (chat.type === "private") positiveId(chat.id, `${path}.id`);
  else negativeId(chat.id, `${path}.id`);
  if (chat.type === "private") {
    optionalText(chat.first_name, `${path}.first_name`);
    optionalText(chat.title, `${path}.title`);
  } else {
    text(chat.title, `${path}.title`);
    optionalText(chat.first_name, `${path}.first_name`);
  }
  optionalText(chat.last_name, `${path}.last_name`);
  optionalText(chat.username, `${path}.username`);
}

function entities(value: unknown, path: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) fail(`${path} must be an array`, value);
  value.forEach((item, index) => {
    const entity = record(item, `${path}[${index}]`);
    text(entity.type, `${path}[${index}].type`);
    nonNegative(entity.offset, `${path}[${index}].offset`);
    nonNegative(entity.length, `${path}[${index}].length`);
  });
}

function positiveId(value: unknown, path: string): void {
  if (!isSafeInteger(value) || value <= 0) {
    fail(`${path} must be a positive safe integer`, value);
  }
}

function negativeId(value: unknown, path: string): void {
  if (!isSafeInteger(value) || value >= 0) {
    fail(`${path} must be a negative safe integer`, value);
  }
}

function isSafeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function nonNegative(value: unknown, path: string): void {
  if (!isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
    fail(`${path} must be a non-negative safe integer`, value);
  }
}

// Stored text must survive encoding unchanged (no lone surrogates) and must
// not hold NUL, which the write cache uses to separate fields.
function text(value: unknown, path: string): void {
  if (
    typeof value !== "string" || !value.isWellFormed() || value.includes("\0")
  ) {
    fail(`${path} must be a well-formed string without NUL`, value);
  }
}

function optionalText(value: unknown, path: string): void {
  if (value !== undefined) text(value, path);
}

function record(value: unknown, path: string): Fields {
  if (!isRecord(value)) fail(`${path} must be an object`, value);
  return value;
}

function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Walks without recursion, so the check itself cannot overflow the stack.
function checkDepth(root: Fields): void {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth > MAX_DEPTH) {
      throw new MalformedError(
        `the update nests deeper than ${MAX_DEPTH} levels`,
      );
    }
    for (const child of Object.values(value)) {
      if (typeof child === "object" && child !== null) {
        stack.push([child, depth + 1]);
      }
    }
  }
}

// `problem` says what was expected where; the reason adds what came instead.
function fail(problem: string, value: unknown): never {
  throw new MalformedError(`${problem}, got ${describe(value)}`);
}

// Says what kind of value arrived without repeating text from the update,
// which may be someone's name.
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value.includes("\0")
        ? "a string with NUL"
        : value.isWellFormed()
        ? "a string"
        : "a string with a lone surrogate";
    case "number":
      return `"${Object.is(value, -0) ? "-0" : String(value)}"`;
    case "boolean":
      return `"${value}"`;
    default:
      return `an ${typeof value}`;
  }
}
