/** The placeholder that replaces a secret in logs and crash reports. */
export const REDACTED = "[REDACTED]";

/** A function that removes secrets from text. */
export type Redactor = (text: string) => string;

/**
 * Builds a redactor for the given secrets. For a bot token only the part
 * after the colon is secret, and removing it also removes the whole token
 * wherever it appears, including inside `/bot<token>/` URLs.
 */
export function createRedactor(
  secrets: readonly (string | undefined)[],
): Redactor {
  const parts = secrets
    .filter((secret): secret is string => secret !== undefined && secret !== "")
    .map((secret) =>
      secret.includes(":") ? secret.slice(secret.indexOf(":") + 1) : secret
    )
    .filter((part) => part.length >= 8);
  if (parts.length === 0) return (text) => text;
  return (text) => {
    for (const part of parts) text = text.replaceAll(part, REDACTED);
    return text;
  };
}

/** Applies a redactor to every string inside a JSON-shaped value. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  return JSON.parse(redact(JSON.stringify(value))) as T;
}
