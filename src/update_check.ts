import type { Update } from "grammy/types";

/**
 * Checks the parts of an update the bot reads (ids are safe integers, names
 * are strings, types are known values). Returns the update, or a one-line
 * reason why it is not a well-formed update. Placeholder: only `update_id`.
 */
export function checkUpdate(value: unknown): Update | string {
  const isUpdate = typeof value === "object" && value !== null &&
    !Array.isArray(value) &&
    Number.isSafeInteger((value as { update_id?: unknown }).update_id);
  return isUpdate ? value as Update : "not a Telegram update";
}
