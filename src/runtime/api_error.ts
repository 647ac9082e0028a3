import { GrammyError, HttpError } from "grammy";

/** What went wrong with a Bot API call, as an operator needs to know it. */
export interface ApiFailure {
  /** One line naming the cause: "connection refused", "Telegram answered 401: Unauthorized". */
  reason: string;
  /** Telegram's answer code, when it answered at all. */
  status?: number;
  /** Seconds Telegram asked to wait (429). */
  retryAfter?: number;
  /** Whether trying again may help (network trouble, 5xx, 429, 409). */
  transient: boolean;
}

// Deno's fetch puts the useful part ("tcp connect error: Connection refused")
// in the cause of a generic "fetch failed"; these name it for the operator.
const CAUSES: [RegExp, string][] = [
  [/connection refused|ECONNREFUSED/i, "connection refused"],
  [
    /dns error|failed to lookup address|name or service not known|no address associated|nodename nor servname|ENOTFOUND/i,
    "DNS lookup failed: check the host name",
  ],
  [
    /certificate|tls|ssl|handshake|UnknownIssuer|invalid peer/i,
    "TLS failed: the server's certificate or TLS setup was refused",
  ],
  [/connection reset|ECONNRESET|broken pipe/i, "connection reset"],
  [
    /network is unreachable|no route to host|ENETUNREACH|EHOSTUNREACH/i,
    "network unreachable",
  ],
  [/timed out|timeout/i, "no answer in time"],
];

/** Classifies an error from a grammY API call. */
export function describeApiError(error: unknown): ApiFailure {
  if (error instanceof GrammyError) {
    const status = error.error_code;
    return {
      reason: `Telegram answered ${status}: ${error.description}`,
      status,
      retryAfter: error.parameters.retry_after,
      transient: status >= 500 || status === 429 || status === 409,
    };
  }
  const text = chainText(error instanceof HttpError ? error.error : error);
  for (const [pattern, reason] of CAUSES) {
    if (pattern.test(text)) return { reason, transient: true };
  }
  const first = text.split("\n")[0] || "unknown error";
  return { reason: first, transient: true };
}

// Every message along the cause chain, so that the specific one is found.
function chainText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined; depth++) {
    if (current instanceof Error) {
      if (current.name === "TimeoutError") parts.push("timed out");
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

/**
 * One signal from several, typed for grammY, whose npm build declares its own
 * AbortSignal type (from a shim) that the platform's does not match.
 */
export function apiSignal(...signals: AbortSignal[]): never {
  return AbortSignal.any(signals) as never;
}
