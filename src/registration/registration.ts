/**
 * Registration: what an update says about its sender and chat (the plan,
 * this file) and the registrar that writes plans in batches and keeps the
 * erasure rule. Above the store, below the bot and the polling loop.
 *
 * @module
 */
import { Composer, type Context } from "grammy";
import type { Registrar, RegistrationPlan } from "./registrar.ts";

// Telegram's own service account: it "sends" channel posts that are
// auto-forwarded into discussion groups. It is not a person.
const TELEGRAM_SERVICE_USER_ID = 777000;

/**
 * The registration feature: before anything else handles an update, its
 * sender and group are written to the store. Store errors propagate so that
 * a webhook request fails and Telegram delivers the update again.
 */
export function registration<C extends Context>(
  registrar: Registrar,
): Composer<C> {
  const composer = new Composer<C>();
  composer.use(async (ctx, next) => {
    const joined = await registrar.apply(planRegistration(ctx));
    if (joined > 0) batches.set(ctx.update, joined);
    await next();
  });
  return composer;
}

// The batch each update's registration joined, for its telemetry; a known
// sender's update is never put here.
const batches = new WeakMap<object, number>();

/** The size of the store commit that registered `update`, or undefined when it needed no write. */
export function batchOf(update: object): number | undefined {
  return batches.get(update);
}

/**
 * Decides what an update registers, moves or deletes, and when the person
 * acted (`sentAt`): someone who erased their data after that is not
 * registered again by this update.
 */
export function planRegistration(ctx: Context): RegistrationPlan {
  const plan = planRecords(ctx);
  const sentAt = actedAt(ctx);
  if (
    sentAt !== undefined &&
    (plan.user !== undefined || plan.group !== undefined ||
      plan.removeGroupId !== undefined || plan.blockedUserId !== undefined)
  ) {
    plan.sentAt = sentAt;
  }
  return plan;
}

function planRecords(ctx: Context): RegistrationPlan {
  const plan: RegistrationPlan = {};
  // Rule 7: a person blocking the bot is erased (unless the operator turned
  // it off), and the block itself never registers or refreshes them.
  if (ctx.chat?.type === "private" && botWasBlocked(ctx)) {
    plan.blockedUserId = ctx.chat.id;
    return plan;
  }
  const from = ctx.from;
  // Rule 1: only the sender, and only a person. Replied-to, forwarded,
  // mentioned and newly added users are other fields and never read here.
  if (
    from !== undefined && !from.is_bot && from.id !== TELEGRAM_SERVICE_USER_ID
  ) {
    plan.user = {
      id: from.id,
      username: from.username ?? null,
      first_name: from.first_name,
      last_name: from.last_name ?? null,
      language_code: from.language_code ?? null,
    };
  }

  const chat = ctx.chat;
  // Rule 2: private chats and channels are never groups.
  if (
    chat === undefined || (chat.type !== "group" && chat.type !== "supergroup")
  ) {
    return plan;
  }
  // Rule 5: the bot's own removal deletes the group instead of registering it.
  if (botWasRemoved(ctx)) {
    plan.removeGroupId = chat.id;
    return plan;
  }
  // Rule 4: the old group announces its new id; it must not be registered
  // again under the old one. Either announcement may arrive first.
  const message = ctx.message;
  if (message?.migrate_to_chat_id !== undefined) {
    plan.move = { fromId: chat.id, toId: message.migrate_to_chat_id };
    return plan;
  }
  if (message?.migrate_from_chat_id !== undefined) {
    plan.move = { fromId: message.migrate_from_chat_id, toId: chat.id };
  }
  plan.group = {
    id: chat.id,
    username: chat.username ?? null,
    title: chat.title,
    type: chat.type,
  };
  return plan;
}

/**
 * When the person did what the update reports, in Unix seconds: an edit
 * counts from when it was made. A button press or an inline query carries
 * no date: it is an action now, and undefined says so.
 */
export function actedAt(ctx: Context): number | undefined {
  const update = ctx.update;
  const edited = update.edited_message ?? update.edited_channel_post;
  const date = edited !== undefined
    ? edited.edit_date ?? edited.date
    : (update.message ?? update.channel_post ?? update.my_chat_member ??
      update.chat_member ?? update.chat_join_request)?.date;
  return Number.isSafeInteger(date) ? date : undefined;
}

// In a private chat, `kicked` is how Telegram says the person blocked the bot.
function botWasBlocked(ctx: Context): boolean {
  const member = ctx.myChatMember?.new_chat_member;
  return member !== undefined && member.user.id === ctx.me.id &&
    member.status === "kicked";
}

function botWasRemoved(ctx: Context): boolean {
  const botId = ctx.me.id;
  const member = ctx.myChatMember?.new_chat_member;
  if (member !== undefined && member.user.id === botId) {
    return member.status === "left" || member.status === "kicked";
  }
  return ctx.message?.left_chat_member?.id === botId;
}
