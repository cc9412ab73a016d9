// The events page's columns: what each shows of an event, and the person's choice of them (kept in
// localStorage, so the page opens the way it was left).
import type { CheckedEvent } from "./envelope";
import { formatTimestamp } from "./format";

export interface Column {
  id: string;
  label: string;
  /** The CSS grid track of the live list's rows. */
  track: string;
  text: (event: CheckedEvent) => string;
  /** The full value, when the cell shows less of it. */
  title?: (event: CheckedEvent) => string;
}

function field(event: CheckedEvent, ...path: string[]): unknown {
  let value: unknown = event.raw;
  for (const key of path) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

function text(value: unknown): string {
  return value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

export const COLUMNS: readonly Column[] = [
  { id: "time", label: "Time", track: "104px", text: (event) => formatTimestamp(event.timestamp).slice(11), title: (event) => formatTimestamp(event.timestamp) },
  { id: "date", label: "Date", track: "92px", text: (event) => formatTimestamp(event.timestamp).slice(0, 10) },
  { id: "type", label: "Type", track: "minmax(180px, 2fr)", text: (event) => event.eventType },
  { id: "source", label: "Source", track: "minmax(90px, 1fr)", text: (event) => event.sourceApp ?? "—" },
  { id: "host", label: "Host", track: "minmax(90px, 1fr)", text: (event) => text(field(event, "source", "host")) },
  { id: "agent", label: "Agent", track: "minmax(70px, 1fr)", text: (event) => event.agentName ?? "" },
  {
    id: "id",
    label: "Event id",
    track: "112px",
    text: (event) => (event.eventId ? `…${event.eventId.slice(-12)}` : ""),
    title: (event) => event.eventId ?? "no event id",
  },
  { id: "parents", label: "Parents", track: "64px", text: (event) => String(event.correlationIds.length) },
  { id: "version", label: "Version", track: "64px", text: (event) => text(field(event, "version")) },
  {
    id: "payload",
    label: "Payload",
    track: "minmax(160px, 3fr)",
    text: (event) => text(field(event, "payload")).slice(0, 200),
    title: (event) => text(field(event, "payload")),
  },
];

export const DEFAULT_COLUMNS = ["time", "type", "source", "agent", "id"];
const KEY = "candybar.events.columns";

/** The chosen columns, in the catalogue's order; the default when nothing (or nothing valid) is kept. */
export function loadColumns(): string[] {
  try {
    const kept: unknown = JSON.parse(window.localStorage.getItem(KEY) ?? "null");
    if (Array.isArray(kept)) {
      const chosen = COLUMNS.map((column) => column.id).filter((id) => kept.includes(id));
      if (chosen.length > 0) return chosen;
    }
  } catch {
    // unreadable or unavailable: the default
  }
  return DEFAULT_COLUMNS;
}

export function saveColumns(ids: readonly string[]): void {
  try {
    window.localStorage.setItem(KEY, JSON.stringify(ids));
  } catch {
    // private mode: the choice lasts as long as the page
  }
}

export function columnsOf(ids: readonly string[]): Column[] {
  return COLUMNS.filter((column) => ids.includes(column.id));
}
