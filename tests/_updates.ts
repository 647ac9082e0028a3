import type { Chat, Message, Update, User } from "grammy/types";
import { FAKE_BOT } from "./_fake_bot_api.ts";

/** A person, as Telegram describes a sender. */
export function user(id: number, extra: Partial<User> = {}): User {
  return { id, is_bot: false, first_name: `User${id}`, ...extra };
}

/** A private chat with a user. */
export function privateChat(of: User): Chat.PrivateChat {
  return { id: of.id, type: "private", first_name: of.first_name };
}

/** A basic group. */
export function group(id: number, title = `Group ${id}`): Chat.GroupChat {
  return { id, type: "group", title };
}

/** A supergroup, optionally public. */
export function supergroup(
  id: number,
  title = `Supergroup ${id}`,
  username?: string,
): Chat.SupergroupChat {
  return username === undefined
    ? { id, type: "supergroup", title, is_forum: undefined as never }
    : { id, type: "supergroup", title, username, is_forum: undefined as never };
}

let messageId = 1;

/** A `message` update (without its update_id) from `from` in `chat`. */
export function message(
  from: User | undefined,
  chat: Chat,
  extra: Partial<Message> = {},
): Omit<Update, "update_id"> {
  return {
    message: {
      message_id: messageId++,
      date: Math.floor(Date.now() / 1000),
      chat,
      ...(from === undefined ? {} : { from }),
      text: "hello",
      ...extra,
    },
  } as unknown as Omit<Update, "update_id">;
}

/** A `channel_post` update. */
export function channelPost(chatId: number): Omit<Update, "update_id"> {
  return {
    channel_post: {
      message_id: messageId++,
      date: Math.floor(Date.now() / 1000),
      chat: { id: chatId, type: "channel", title: "A channel" },
      text: "news",
    },
  } as unknown as Omit<Update, "update_id">;
}

/** The bot's own membership in `chat` changing to `status`, by `from`. */
export function myChatMember(
  from: User,
  chat: Chat,
  status: "member" | "left" | "kicked",
): Omit<Update, "update_id"> {
  const date = Math.floor(Date.now() / 1000);
  return {
    my_chat_member: {
      chat,
      from,
      date,
      old_chat_member: { status: "member", user: FAKE_BOT },
      new_chat_member: status === "kicked"
        ? { status, user: FAKE_BOT, until_date: 0 }
        : { status, user: FAKE_BOT },
    },
  } as unknown as Omit<Update, "update_id">;
}

/** A complete update, with an explicit id, for posting to a webhook. */
export function withId(update: Omit<Update, "update_id">, id: number): Update {
  return { ...update, update_id: id } as Update;
}

let callbackId = 1;

/** A button press on a message of the bot's in `chat`. */
export function callback(
  from: User,
  chat: Chat,
  data: string,
): Omit<Update, "update_id"> {
  return {
    callback_query: {
      id: String(callbackId++),
      from,
      chat_instance: `instance-${chat.id}`,
      data,
      message: {
        message_id: 99,
        date: Math.floor(Date.now() / 1000),
        chat,
        from: FAKE_BOT,
        text: "menu",
      },
    },
  } as unknown as Omit<Update, "update_id">;
}
