import assert from "node:assert/strict";
import { Api, Context } from "grammy";
import type { Update, UserFromGetMe } from "grammy/types";
import { planRegistration } from "./registration.ts";

const me: UserFromGetMe = {
  id: 42,
  is_bot: true,
  first_name: "Bot",
  username: "the_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
} as UserFromGetMe;

function plan(update: Record<string, unknown>) {
  const ctx = new Context(
    { update_id: 1, ...update } as Update,
    new Api("1:x"),
    me,
  );
  return planRegistration(ctx);
}

const alice = {
  id: 7,
  is_bot: false,
  first_name: "Alice",
  language_code: "en",
};
const group = { id: -9, type: "group", title: "G" };

Deno.test("a private message registers its sender and no group", () => {
  assert.deepEqual(
    plan({
      message: {
        message_id: 1,
        date: 0,
        chat: { id: 7, type: "private" },
        from: alice,
      },
    }),
    {
      user: {
        id: 7,
        username: null,
        first_name: "Alice",
        last_name: null,
        language_code: "en",
      },
      sentAt: 0,
    },
  );
});

Deno.test("a group message registers sender and group but nobody it mentions", () => {
  const result = plan({
    message: {
      message_id: 1,
      date: 0,
      chat: group,
      from: alice,
      reply_to_message: {
        message_id: 0,
        date: 0,
        chat: group,
        from: { id: 8, is_bot: false, first_name: "Bob" },
      },
      new_chat_members: [{ id: 9, is_bot: false, first_name: "Carol" }],
    },
  });
  assert.deepEqual(result.user?.id, 7);
  assert.deepEqual(result.group, {
    id: -9,
    username: null,
    title: "G",
    type: "group",
  });
});

Deno.test("bots, Telegram's service account and channels are not registered", () => {
  assert.deepEqual(
    plan({
      message: {
        message_id: 1,
        date: 0,
        chat: group,
        from: { ...alice, is_bot: true },
      },
    }).user,
    undefined,
  );
  assert.deepEqual(
    plan({
      message: {
        message_id: 1,
        date: 0,
        chat: group,
        from: { id: 777000, is_bot: false, first_name: "Telegram" },
      },
    }).user,
    undefined,
  );
  assert.deepEqual(
    plan({
      channel_post: {
        message_id: 1,
        date: 0,
        chat: { id: -100, type: "channel", title: "C" },
      },
    }),
    {},
  );
});

Deno.test("a callback query registers the presser and the group the button is in", () => {
  const result = plan({
    callback_query: {
      id: "1",
      from: alice,
      chat_instance: "x",
      message: { message_id: 1, date: 0, chat: group },
    },
  });
  assert.equal(result.user?.id, 7);
  assert.equal(result.group?.id, -9);
});

Deno.test("migrate_to moves the old group and does not register it again", () => {
  assert.deepEqual(
    plan({
      message: {
        message_id: 1,
        date: 0,
        chat: group,
        from: alice,
        migrate_to_chat_id: -1009,
      },
    }).move,
    {
      fromId: -9,
      toId: -1009,
    },
  );
  assert.equal(
    plan({
      message: {
        message_id: 1,
        date: 0,
        chat: group,
        from: alice,
        migrate_to_chat_id: -1009,
      },
    }).group,
    undefined,
  );
});

Deno.test("migrate_from moves the old record and registers the supergroup", () => {
  const result = plan({
    message: {
      message_id: 1,
      date: 0,
      chat: { id: -1009, type: "supergroup", title: "G" },
      from: alice,
      migrate_from_chat_id: -9,
    },
  });
  assert.deepEqual(result.move, { fromId: -9, toId: -1009 });
  assert.equal(result.group?.type, "supergroup");
});

Deno.test("the bot's own removal deletes the group; someone else's does not", () => {
  const member = (id: number, status: string) => ({
    my_chat_member: {
      chat: group,
      from: alice,
      date: 0,
      old_chat_member: {
        status: "member",
        user: { id, is_bot: true, first_name: "B" },
      },
      new_chat_member: { status, user: { id, is_bot: true, first_name: "B" } },
    },
  });
  assert.deepEqual(plan(member(42, "kicked")).removeGroupId, -9);
  assert.deepEqual(plan(member(42, "left")).removeGroupId, -9);
  assert.equal(plan(member(42, "kicked")).group, undefined);
  assert.equal(plan(member(42, "member")).group?.id, -9);
  const left = plan({
    message: {
      message_id: 1,
      date: 0,
      chat: group,
      from: alice,
      left_chat_member: { id: 42, is_bot: true, first_name: "B" },
    },
  });
  assert.equal(left.removeGroupId, -9);
});

Deno.test("the bot blocked in private erases the person and registers nobody", () => {
  const result = plan({
    my_chat_member: {
      chat: { id: 7, type: "private", first_name: "Alice" },
      from: alice,
      date: 1_700_000_000,
      old_chat_member: { status: "member", user: me },
      new_chat_member: { status: "kicked", user: me, until_date: 0 },
    },
  });
  assert.deepEqual(result, { blockedUserId: 7, sentAt: 1_700_000_000 });
});

Deno.test("the bot unblocked in private registers the person as usual", () => {
  const result = plan({
    my_chat_member: {
      chat: { id: 7, type: "private", first_name: "Alice" },
      from: alice,
      date: 1_700_000_000,
      old_chat_member: { status: "kicked", user: me, until_date: 0 },
      new_chat_member: { status: "member", user: me },
    },
  });
  assert.equal(result.blockedUserId, undefined);
  assert.equal(result.user?.id, 7);
});

Deno.test("a plan carries when the person acted: the message date, or the edit's", () => {
  const from = alice;
  const chat = { id: 7, type: "private" };
  assert.equal(
    plan({ message: { message_id: 1, date: 1_700_000_000, chat, from } })
      .sentAt,
    1_700_000_000,
  );
  assert.equal(
    plan({
      edited_message: {
        message_id: 1,
        date: 1_700_000_000,
        edit_date: 1_700_000_500,
        chat,
        from,
      },
    }).sentAt,
    1_700_000_500,
  );
  assert.equal(
    plan({
      my_chat_member: {
        chat: group,
        from,
        date: 1_700_000_900,
        old_chat_member: { status: "left", user: me },
        new_chat_member: { status: "member", user: me },
      },
    }).sentAt,
    1_700_000_900,
  );
});

Deno.test("a button press has no date: it is an action now", () => {
  const result = plan({
    callback_query: {
      id: "1",
      from: alice,
      chat_instance: "x",
      message: { message_id: 1, date: 1_600_000_000, chat: group },
    },
  });
  assert.equal(result.user?.id, 7);
  assert.equal("sentAt" in result, false);
});
