// Keyboard use of every table and list of the pages: ↑ and ↓ (Home, End) move between rows, Enter
// opens the row's link. Handled once, for the whole page, so every table gets it: a row is
// focused itself when it is focusable, else its first link or button.
const ROW = "table.grid > tbody > tr, [role='listitem'], [data-row]";
const FOCUSABLE = "a[href], button:not(:disabled)";
const MOVES: Record<string, (index: number, count: number) => number> = {
  ArrowDown: (index, count) => Math.min(count - 1, index + 1),
  ArrowUp: (index) => Math.max(0, index - 1),
  Home: () => 0,
  End: (_, count) => count - 1,
};

function focusTarget(row: HTMLElement): HTMLElement | null {
  return row.tabIndex >= 0 ? row : row.querySelector<HTMLElement>(FOCUSABLE);
}

/** The page's keydown handler (on `<main>`). */
export function onRowKey(event: KeyboardEvent): void {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target as HTMLElement;
  if (target.closest("input, select, textarea, [contenteditable]")) return;
  const row = target.closest<HTMLElement>(ROW);
  if (row === null || row.parentElement === null) return;
  if (event.key === "Enter" && target === row) {
    const link = row.querySelector<HTMLAnchorElement>("a[href]");
    if (link !== null) {
      event.preventDefault();
      link.click();
    }
    return;
  }
  const move = MOVES[event.key];
  if (move === undefined) return;
  const rows = [...row.parentElement.children].filter((sibling): sibling is HTMLElement => sibling.matches(ROW));
  const next = rows[move(rows.indexOf(row), rows.length)];
  const focus = next === undefined ? null : focusTarget(next);
  if (focus === null) return;
  event.preventDefault();
  focus.focus();
}
