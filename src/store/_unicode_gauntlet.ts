/**
 * Strings that text handling tends to alter on the way: a leading byte order
 * mark, joiner sequences, direction overrides, separators JavaScript treats
 * as line ends, noncharacters, controls and a very long value. Every one of
 * them must come back from the store, an export, a copy and a rotation
 * exactly as it went in.
 */
export const GAUNTLET: readonly string[] = [
  "\uFEFFAnna",
  "\uFEFF",
  "\uFEFF\uFEFFdouble",
  "👨‍👩‍👧‍👦 family",
  "🏳️‍🌈",
  "\u202Egnp.exe\u202C",
  "\u200F\u05E9\u05DC\u05D5\u05DD\u200E",
  "line\u2028separator\u2029paragraph",
  "\uFFFF\uFFFE\uFDD0\u{10FFFF}\u{1FFFE}",
  "tab\there\r\nCRLF\u0007bel\u001b[31mred",
  "A\u0301 e\u0301 \u0345",
  " leading and trailing ",
  '=HYPERLINK("x"),"quoted"',
  "Ab\u0301🦊x".repeat(2000),
];

/** A user per gauntlet string, each name field holding a string of the set. */
export function gauntletUsers(firstId = 700): {
  id: number;
  username: string | null;
  first_name: string;
  last_name: string | null;
  language_code: string | null;
}[] {
  return GAUNTLET.map((text, i) => ({
    id: firstId + i,
    username: GAUNTLET[(i + 1) % GAUNTLET.length]!,
    first_name: text,
    last_name: GAUNTLET[(i + 2) % GAUNTLET.length]!,
    language_code: "en",
  }));
}

/** A supergroup per gauntlet string, titled and named with strings of the set. */
export function gauntletGroups(firstId = -700): {
  id: number;
  username: string | null;
  title: string;
  type: "supergroup";
}[] {
  return GAUNTLET.map((text, i) => ({
    id: firstId - i,
    username: GAUNTLET[(i + 3) % GAUNTLET.length]!,
    title: text,
    type: "supergroup" as const,
  }));
}
