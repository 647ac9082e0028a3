import { ConfigError, type Env } from "../base/errors.ts";

/** What the bot keeps and for how long, beyond what a request erases. */
export interface RetentionConfig {
  /**
   * Whether a person blocking the bot erases their records, from
   * `ERASE_ON_BLOCK` (default true).
   */
  eraseOnBlock: boolean;
  /**
   * Days a user or group may go unseen before the sweep erases them, from
   * `RETENTION_DAYS`; undefined (the default) keeps records until erased.
   */
  retentionDays: number | undefined;
}

/** The longest retention period accepted: ten years. */
export const MAX_RETENTION_DAYS = 3650;

/** Reads `ERASE_ON_BLOCK` and `RETENTION_DAYS`; throws `ConfigError` on a bad value. */
export function loadRetention(env: Env): RetentionConfig {
  return {
    eraseOnBlock: readEraseOnBlock(env),
    retentionDays: readRetentionDays(env),
  };
}

function readEraseOnBlock(env: Env): boolean {
  const value = env.ERASE_ON_BLOCK?.trim();
  if (value === undefined || value === "" || value === "true") return true;
  if (value === "false") return false;
  throw new ConfigError(
    "ERASE_ON_BLOCK",
    `must be true or false, got "${value}"`,
  );
}

function readRetentionDays(env: Env): number | undefined {
  const value = env.RETENTION_DAYS?.trim();
  if (value === undefined || value === "") return undefined;
  if (
    !/^\d{1,4}$/.test(value) || Number(value) < 1 ||
    Number(value) > MAX_RETENTION_DAYS
  ) {
    throw new ConfigError(
      "RETENTION_DAYS",
      `must be a whole number of days from 1 to ${MAX_RETENTION_DAYS} (leave it unset to keep records until erased), got "${value}"`,
    );
  }
  return Number(value);
}
