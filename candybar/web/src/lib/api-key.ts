// The API key the UI sends when the platform requires one. It is kept in this tab's sessionStorage
// only: never a cookie (no other site's request carries it), never localStorage (it goes when the
// tab closes). Without storage (a locked-down browser) it lasts as long as the page.
const STORAGE_KEY = "candybar.api-key";

/** The subprotocol the live stream speaks; the server answers with it, so the key is never echoed. */
export const STREAM_PROTOCOL = "33god.v1";
/** A browser's WebSocket cannot set headers: the key travels as the subprotocol `bearer.KEY`. */
export const BEARER_PROTOCOL_PREFIX = "bearer.";

// A subprotocol is an HTTP token (RFC 9110): these characters only.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

let inMemory: string | null = null;

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** The key in use, or null when none was given (a platform without keys needs none). */
export function storedKey(): string | null {
  try {
    return storage()?.getItem(STORAGE_KEY) ?? inMemory;
  } catch {
    return inMemory;
  }
}

/** Keep `key` for this tab; surrounding blanks (from pasting) are dropped. */
export function storeKey(key: string): void {
  const trimmed = key.trim();
  if (trimmed === "") throw new Error("an API key cannot be empty");
  inMemory = trimmed;
  try {
    storage()?.setItem(STORAGE_KEY, trimmed);
  } catch {
    // storage full or refused: the key lasts as long as the page
  }
}

/** Forget the key: from now on no call carries it. */
export function forgetKey(): void {
  inMemory = null;
  try {
    storage()?.removeItem(STORAGE_KEY);
  } catch {
    // nothing was stored there
  }
}

/** `headers` with `Authorization: Bearer KEY` when there is a key and the caller set none itself. */
export function withKey(headers: Headers, key: string | null = storedKey()): Headers {
  if (key !== null && !headers.has("Authorization")) headers.set("Authorization", `Bearer ${key}`);
  return headers;
}

/**
 * The subprotocols the live stream's WebSocket offers: none without a key (as before keys existed),
 * else the stream's own and `bearer.KEY`. Throws when the key cannot be a subprotocol.
 */
export function streamProtocols(key: string | null = storedKey()): string[] {
  if (key === null) return [];
  if (!TOKEN.test(key)) {
    throw new Error(
      "the API key cannot travel on the live stream: a WebSocket subprotocol takes only letters, digits and !#$%&'*+-.^_`|~",
    );
  }
  return [STREAM_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${key}`];
}
