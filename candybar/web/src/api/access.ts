// What the platform said about the caller's key, and the one place a "key needed" is announced.
//
// A platform with API keys answers 401 without a valid key, 403 when the key lacks the scope a call
// needs, 429 (with Retry-After) when its client is over its rate; the live stream closes with 4401,
// 4403 or 4429 for the same reasons. A 401 anywhere asks for a key (the app shows its key dialog);
// a 403 or 429 is shown where it happened, by the page or the action that met it.
import { forgetKey } from "../lib/api-key";

export type AccessProblem =
  | { kind: "unauthenticated"; message: string }
  | { kind: "forbidden"; message: string }
  | { kind: "limited"; message: string; retryAfter: number | null };

/** The WebSocket close codes of a refused live stream: the HTTP status plus 4000. */
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_LIMITED = 4429;

/** The access problem an answer's status (or a stream's close code) stands for; null for any other. */
export function accessProblemOf(status: number, message: string, retryAfter: number | null = null): AccessProblem | null {
  switch (status) {
    case 401:
    case CLOSE_UNAUTHENTICATED:
      return { kind: "unauthenticated", message };
    case 403:
    case CLOSE_FORBIDDEN:
      return { kind: "forbidden", message };
    case 429:
    case CLOSE_LIMITED:
      return { kind: "limited", message, retryAfter: retryAfter ?? secondsIn(message) };
    default:
      return null;
  }
}

/** Seconds from a `Retry-After` header (a number of seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** "retry after 12 s" in a message (a refused stream has no headers, only its reason). */
function secondsIn(message: string): number | null {
  const match = /retry after (\d+) s/.exec(message);
  return match ? Number(match[1]) : null;
}

/** One line a person reads: what happened with the key, and the server's own words. */
export function describeAccess(problem: AccessProblem): string {
  switch (problem.kind) {
    case "unauthenticated":
      return `This platform requires an API key: ${problem.message}`;
    case "forbidden":
      return `Your key lacks the scope for this: ${problem.message}`;
    case "limited":
      return `${rateLimitedTitle(problem.retryAfter)}: ${problem.message}`;
  }
}

export function rateLimitedTitle(retryAfter: number | null): string {
  return retryAfter === null ? "Rate limited: retry in a moment" : `Rate limited: retry in ${retryAfter} s`;
}

/** Who is told when a call met a 401: `rejected` is the server's message when a key was sent and refused. */
export type KeyListener = (request: { rejected: string | null }) => void;

const listeners = new Set<KeyListener>();

/** Listen for "a key is needed"; returns the function that stops listening. */
export function onKeyNeeded(listener: KeyListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Say that a key is needed: no key was sent (`rejected` null), or the one sent was refused with that
 * message. A refused key is forgotten at once: sent again, each refusal would count towards the
 * lock-out of this address after too many failed attempts.
 */
export function keyNeeded(rejected: string | null = null): void {
  if (rejected !== null) forgetKey();
  for (const listener of listeners) listener({ rejected });
}
