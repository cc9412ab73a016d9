// Who acts in the dead-letter console and on conflicts: kept for audit with every replay, discard and action.
// Without API keys it is the name typed here; with a key, the platform records the key's client
// itself and refuses any other name, so none is sent.
import { storedKey } from "./api-key";

const KEY = "candybar.actor";
export const DEFAULT_ACTOR = "candybar";

export function loadActor(): string {
  try {
    return window.localStorage.getItem(KEY)?.trim() || DEFAULT_ACTOR;
  } catch {
    return DEFAULT_ACTOR;
  }
}

export function saveActor(actor: string): void {
  try {
    window.localStorage.setItem(KEY, actor.trim());
  } catch {
    // private mode: the name lasts as long as the page
  }
}

/** Whether the platform names the actor itself: an API key is in use, and its client is who acts. */
export function actorIsKeyClient(key: string | null = storedKey()): boolean {
  return key !== null;
}

/** The actor to send with an action: the typed name, or null when the key's client is recorded instead. */
export function actorToSend(typed: string, key: string | null = storedKey()): string | null {
  return actorIsKeyClient(key) ? null : typed.trim();
}
