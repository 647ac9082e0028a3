import type { GroupRecord, UserRecord } from "../store/store.ts";
import { isoTime } from "./formats.ts";

/** A user record as aligned, human-readable lines. */
export function describeUser(user: UserRecord): string {
  return table(`user ${user.id}`, [
    ["username", user.username === null ? "(none)" : `@${user.username}`],
    ["first name", user.first_name],
    ["last name", user.last_name ?? "(none)"],
    ["language code", user.language_code ?? "(none)"],
    ["registered at", isoTime(user.registered_at)],
  ]);
}

/** A group record as aligned, human-readable lines. */
export function describeGroup(group: GroupRecord): string {
  return table(`group ${group.id}`, [
    ["title", group.title],
    ["username", group.username === null ? "(none)" : `@${group.username}`],
    ["type", group.type],
    ["registered at", isoTime(group.registered_at)],
  ]);
}

/** A heading and `label: value` rows with the values aligned. */
export function table(heading: string, rows: [string, string][]): string {
  // Two spaces after the longest label's colon.
  const width = Math.max(...rows.map(([label]) => label.length)) + 3;
  return [
    heading,
    ...rows.map(([label, value]) => `  ${`${label}:`.padEnd(width)}${value}`),
  ]
    .join("\n") + "\n";
}
