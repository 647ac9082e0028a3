/** The bot's command menu, as sent with `setMyCommands`. */
export const COMMANDS = [
  { command: "start", description: "What this bot is" },
  { command: "help", description: "How to use this bot" },
  { command: "privacy", description: "What this bot stores about you" },
] as const;

/** The answer to `/start`. */
export const START_TEXT = [
  "Hello! I am a registration bot that keeps as little about you as it can.",
  "",
  "I remember who you are (your Telegram id, names, username and app language) and which groups I am in, and nothing else: no messages, no member lists, no activity.",
  "",
  "Send /privacy to read exactly what is stored and how to get a copy or have it erased. /help lists the commands.",
].join("\n");

/** The answer to `/help`. */
export const HELP_TEXT = [
  "Commands:",
  "/start - what this bot is",
  "/help - this list",
  "/privacy - what is stored about you and how to get it or erase it",
  "",
  "In a group, add me and I register the group's title, username and type.",
].join("\n");

/** The answer to `/privacy`: the policy in short, matching PRIVACY.md. */
export function privacyText(contact: string | undefined): string {
  const whom = contact === undefined
    ? "the operator of this bot (the person or team who runs it)"
    : `the operator of this bot: ${contact}`;
  return [
    "Privacy policy (short version)",
    "",
    "What is stored about you, and why:",
    "- your Telegram id: to tell your record apart from others",
    "- your username, first name and last name, as Telegram shows them: to know who the record is about when you ask for it",
    "- your app's language code: to answer in your language",
    "- when I first saw you: to know how old the record is",
    "",
    "About a group I am in: its id, title, username, type (group or supergroup) and when I first saw it.",
    "",
    "Nothing else is kept: no message text, no member lists, no 'last seen'. Only the person who sends an update is registered, never people who are replied to, forwarded, mentioned or added.",
    "",
    "Crash reports: when something goes wrong while handling your message, a report goes to the operator's Sentry account with the error's stack trace and the Telegram update that caused it (which can include your message and your ids). It is used only to fix the bug and is deleted there when the operator's Sentry retention period ends.",
    "",
    "How long: a changed name or username replaces the old one. When a group becomes a supergroup its record moves to the new id. When I am removed from a group, its record is deleted. Blocking me in private does not delete your record, because you may still use me in groups: ask for erasure instead.",
    "",
    `To get a copy of your data or have it erased, write to ${whom}. Requests are answered with the bot's privacy tool.`,
  ].join("\n");
}
