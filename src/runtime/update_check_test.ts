import assert from "node:assert/strict";
import { checkUpdate } from "./update_check.ts";

const alice = {
  id: 5001,
  is_bot: false,
  first_name: "Alice",
  last_name: "A",
  username: "alice",
  language_code: "pt-br",
};
const garden = { id: -51, type: "group", title: "Garden" };
const bot = { id: 4242, is_bot: true, first_name: "Bot" };

function messageUpdate(extra: Record<string, unknown> = {}) {
  return {
    update_id: 7,
    message: {
      message_id: 1,
      date: 1_700_000_000,
      chat: garden,
      from: alice,
      text: "/privacy",
      entities: [{ type: "bot_command", offset: 0, length: 8 }],
      ...extra,
    },
  };
}

// A fresh message update with the field at `path` set to `replacement`, or
// removed when `replacement` is the symbol REMOVE.
const REMOVE = Symbol("remove");
function changed(path: (string | number)[], replacement: unknown): unknown {
  const copy = messageUpdate() as unknown as Record<string | number, unknown>;
  let here = copy;
  for (const key of path.slice(0, -1)) {
    here[key] = structuredClone(here[key]);
    here = here[key] as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (replacement === REMOVE) delete here[last];
  else here[last] = replacement;
  return copy;
}

const valid: Record<string, unknown> = {
  "a message in a group": messageUpdate(),
  "a message with a photo caption": messageUpdate({
    text: undefined,
    caption: "/start",
    caption_entities: [{ type: "bot_command", offset: 0, length: 6 }],
  }),
  "an edited message in a private chat": {
    update_id: 8,
    edited_message: {
      message_id: 2,
      date: 1_700_000_000,
      edit_date: 1_700_000_100,
      chat: { id: 5001, type: "private", first_name: "Alice" },
      from: alice,
      text: "hi",
    },
  },
  "a group upgraded to a supergroup": messageUpdate({
    chat: { id: -1001234567890, type: "supergroup", title: "G" },
    migrate_from_chat_id: -51,
    text: undefined,
    entities: undefined,
  }),
  "an anonymous admin's message": messageUpdate({
    from: { id: 1087968824, is_bot: true, first_name: "Group" },
    sender_chat: garden,
  }),
  "a button press on an inaccessible message": {
    update_id: 9,
    callback_query: {
      id: "123",
      from: alice,
      chat_instance: "-5",
      data: "prv:x:u:5001:5001",
      message: { message_id: 3, date: 0, chat: garden },
    },
  },
  "the bot removed from a group": {
    update_id: 10,
    my_chat_member: {
      chat: garden,
      from: alice,
      date: 1_700_000_000,
      old_chat_member: { status: "member", user: bot },
      new_chat_member: { status: "kicked", user: bot, until_date: 0 },
    },
  },
  "a channel post without a sender": {
    update_id: 11,
    channel_post: {
      message_id: 1,
      date: 1,
      chat: { id: -1002, type: "channel", title: "News" },
      text: "news",
    },
  },
  "a kind the bot does not ask for": {
    update_id: 12,
    inline_query: { id: "1", from: alice, query: "", offset: "" },
  },
  "fields the bot never reads, of any shape": {
    ...messageUpdate(),
    some_future_field: [null, { deep: [1.5, "x"] }],
  },
  "an update with no kind at all": { update_id: 0 },
};

for (const [name, update] of Object.entries(valid)) {
  Deno.test(`a well-formed update passes: ${name}`, () => {
    const clean = JSON.parse(JSON.stringify(update));
    assert.equal(checkUpdate(clean), clean);
  });
}

const invalid: [string, unknown, RegExp][] = [
  ["not an object", [1, 2], /^the update must be an object, got an array$/],
  ["null", null, /^the update must be an object, got null$/],
  ["no update_id", { message: {} }, /^update_id must be/],
  [
    "update_id 2^53",
    { update_id: 2 ** 53 },
    /^update_id must be a non-negative safe integer, got "9007199254740992"$/,
  ],
  ["update_id negative zero", { update_id: -0 }, /got "-0"$/],
  ["update_id a float", { update_id: 1.5 }, /got "1\.5"$/],
  ["update_id a string", { update_id: "1" }, /got a string$/],
  [
    "a sender id of 2^53",
    changed(["message", "from", "id"], 2 ** 53),
    /^message\.from\.id must be a positive safe integer/,
  ],
  [
    "a sender id of negative zero",
    changed(["message", "from", "id"], -0),
    /^message\.from\.id must be a positive safe integer, got "-0"$/,
  ],
  [
    "a negative sender id",
    changed(["message", "from", "id"], -5),
    /^message\.from\.id must be a positive/,
  ],
  [
    "a sender id as a string",
    changed(["message", "from", "id"], "5001"),
    /^message\.from\.id must be a positive safe integer, got a string$/,
  ],
  [
    "a group with a positive id",
    changed(["message", "chat", "id"], 51),
    /^message\.chat\.id must be a negative safe integer/,
  ],
  [
    "a group id below -2^53",
    changed(["message", "chat", "id"], -(2 ** 53)),
    /^message\.chat\.id must be a negative safe integer/,
  ],
  [
    "a first name that is a number",
    changed(["message", "from", "first_name"], 5),
    /^message\.from\.first_name must be a well-formed string without NUL, got "5"$/,
  ],
  [
    "a missing first name",
    changed(["message", "from", "first_name"], REMOVE),
    /^message\.from\.first_name must be .*, got nothing$/,
  ],
  [
    "a null username",
    changed(["message", "from", "username"], null),
    /^message\.from\.username must be .*, got null$/,
  ],
  [
    "a language code that is an array",
    changed(["message", "from", "language_code"], ["en"]),
    /^message\.from\.language_code must be .*, got an array$/,
  ],
  [
    "a name with a lone surrogate",
    changed(["message", "from", "last_name"], "a\ud800"),
    /^message\.from\.last_name must be .*, got a string with a lone surrogate$/,
  ],
  [
    "a title with NUL",
    changed(["message", "chat", "title"], "a\0b"),
    /^message\.chat\.title must be .*, got a string with NUL$/,
  ],
  [
    "a group without a title",
    changed(["message", "chat", "title"], REMOVE),
    /^message\.chat\.title must be/,
  ],
  [
    "an unknown chat type",
    changed(["message", "chat", "type"], "guild"),
    /^message\.chat\.type must be a known chat type, got a string$/,
  ],
  [
    "is_bot as a string",
    changed(["message", "from", "is_bot"], "false"),
    /^message\.from\.is_bot must be true or false/,
  ],
  [
    "a message that is null",
    { update_id: 1, message: null },
    /^message must be an object, got null$/,
  ],
  [
    "a message without a chat",
    changed(["message", "chat"], REMOVE),
    /^message\.chat must be an object, got nothing$/,
  ],
  [
    "a float date",
    changed(["message", "date"], 1.25),
    /^message\.date must be a non-negative safe integer/,
  ],
  [
    "an edit date that is a string",
    {
      update_id: 1,
      edited_message: { ...messageUpdate().message, edit_date: "1" },
    },
    /^edited_message\.edit_date must be a non-negative safe integer/,
  ],
  [
    "a join request dated 2^53",
    {
      update_id: 1,
      chat_join_request: { chat: garden, from: alice, date: 2 ** 53 },
    },
    /^chat_join_request\.date must be a non-negative safe integer/,
  ],
  [
    "an unsafe migration id",
    changed(["message", "migrate_to_chat_id"], -(2 ** 60)),
    /^message\.migrate_to_chat_id must be a negative safe integer/,
  ],
  [
    "a left member without an id",
    changed(["message", "left_chat_member"], {
      is_bot: false,
      first_name: "x",
    }),
    /^message\.left_chat_member\.id must be/,
  ],
  [
    "entities that are an object",
    changed(["message", "entities"], {
      type: "bot_command",
    }),
    /^message\.entities must be an array, got an object$/,
  ],
  [
    "an entity with a string offset",
    changed(["message", "entities", 0, "offset"], "0"),
    /^message\.entities\[0\]\.offset must be/,
  ],
  [
    "text that is a number",
    changed(["message", "text"], 5),
    /^message\.text must be/,
  ],
  [
    "a sender chat with an unsafe id",
    changed(["message", "sender_chat"], {
      id: -(2 ** 54),
      type: "channel",
      title: "x",
    }),
    /^message\.sender_chat\.id must be/,
  ],
  [
    "callback data that is a number",
    {
      update_id: 1,
      callback_query: { id: "1", from: alice, data: 5, chat_instance: "1" },
    },
    /^callback_query\.data must be .*, got "5"$/,
  ],
  [
    "a button press without a sender",
    { update_id: 1, callback_query: { id: "1", data: "x" } },
    /^callback_query\.from must be an object, got nothing$/,
  ],
  [
    "a button press on a message with a bad chat",
    {
      update_id: 1,
      callback_query: {
        id: "1",
        from: alice,
        data: "x",
        message: { message_id: 1, date: 0, chat: { id: "x", type: "group" } },
      },
    },
    /^callback_query\.message\.chat\.id must be/,
  ],
  [
    "an unknown member status",
    {
      update_id: 1,
      my_chat_member: {
        chat: garden,
        from: alice,
        date: 1,
        old_chat_member: { status: "member", user: bot },
        new_chat_member: { status: "gone", user: bot },
      },
    },
    /^my_chat_member\.new_chat_member\.status must be a known member status/,
  ],
  [
    "a new member without a user",
    {
      update_id: 1,
      my_chat_member: {
        chat: garden,
        from: alice,
        date: 1,
        old_chat_member: { status: "member", user: bot },
        new_chat_member: { status: "left" },
      },
    },
    /^my_chat_member\.new_chat_member\.user must be an object/,
  ],
  [
    "another kind with a sender of the wrong shape",
    { update_id: 1, chat_join_request: { chat: garden, from: { id: 1.5 } } },
    /^chat_join_request\.from\.id must be/,
  ],
  [
    "another kind with a chat of the wrong shape",
    { update_id: 1, message_reaction: { chat: { id: -1, type: 7 } } },
    /^message_reaction\.chat\.type must be/,
  ],
];

for (const [name, update, reason] of invalid) {
  Deno.test(`a malformed update is refused with its reason: ${name}`, () => {
    const result = checkUpdate(update);
    assert.equal(typeof result, "string", "the update was accepted");
    assert.match(result as string, reason);
  });
}

Deno.test("the reason never repeats text from the update", () => {
  const result = checkUpdate(
    changed(["message", "from", "id"], "Secret Name"),
  );
  assert.equal(typeof result, "string");
  assert.doesNotMatch(result as string, /Secret/);
});

Deno.test("deep nesting is refused without overflowing the stack", () => {
  let deep: unknown = {};
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  assert.equal(
    checkUpdate({ ...messageUpdate(), extra: deep }),
    "the update nests deeper than 64 levels",
  );
  // Nesting as deep as a real update is fine.
  let shallow: unknown = {};
  for (let i = 0; i < 40; i++) shallow = [shallow];
  const update = { ...messageUpdate(), extra: shallow };
  assert.equal(checkUpdate(update), update);
});
