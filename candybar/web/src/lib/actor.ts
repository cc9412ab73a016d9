// Who acts in the dead-letter console and on conflicts: kept for audit with every replay, discard and action.
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
