/** "1 user", "2 users". */
export function plural(count: number, noun: string): string {
  if (count === 1) return `${count} ${noun}`;
  return `${count} ${
    noun.endsWith("y") ? `${noun.slice(0, -1)}ies` : `${noun}s`
  }`;
}
