// Every event that arrives is untrusted: it is checked against the Holyfields schemas
// (the envelope, then the payload of its type) before the page relies on any field.
import { EventEnvelopeSchema, payloadSchemas } from "@holyfields";
import type { EventEnvelope } from "@holyfields";

/** One problem with an event, at a JSON path into it (`$.payload.price`). */
export interface Issue {
  path: string;
  message: string;
}

/** An event as the UI holds it: the fields it shows, the raw document, and what is wrong with it. */
export interface CheckedEvent {
  /** Unique within one stream: the event id, or a generated key for an event without a usable one. */
  key: string;
  eventId: string | null;
  eventType: string;
  timestamp: string | null;
  sourceApp: string | null;
  agentName: string | null;
  correlationIds: string[];
  /** The envelope when it is valid; null when it is not (then only `raw` is to be trusted as data). */
  envelope: EventEnvelope | null;
  raw: unknown;
  issues: Issue[];
  /** Lower-case text of the payload, for searching without encoding it again on every keystroke. */
  searchText: string;
}

/** `$.payload.items[0].sku` from a path of keys and indexes. */
export function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) => (typeof part === "number" ? `${out}[${part}]` : `${out}.${String(part)}`),
    "$",
  );
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

function field(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== "object" || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

let anonymous = 0;

/** Check one event against the envelope schema and the payload schema of its type. */
export function checkEvent(raw: unknown): CheckedEvent {
  const issues: Issue[] = [];
  let envelope: EventEnvelope | null = null;
  const parsed = EventEnvelopeSchema.safeParse(raw);
  if (parsed.success) {
    const type = parsed.data.event_type;
    const schema = (payloadSchemas as Record<string, (typeof payloadSchemas)[keyof typeof payloadSchemas]>)[type];
    if (schema === undefined) {
      issues.push({ path: "$.event_type", message: `no schema is registered for ${type}` });
    } else {
      const payload = schema.safeParse(parsed.data.payload);
      if (payload.success) {
        envelope = raw as EventEnvelope;
      } else {
        for (const issue of payload.error.issues) {
          issues.push({ path: jsonPath(["payload", ...issue.path]), message: issue.message });
        }
      }
    }
  } else {
    for (const issue of parsed.error.issues) {
      issues.push({ path: jsonPath(issue.path), message: issue.message });
    }
  }
  const eventId = text(field(raw, "event_id"));
  const correlation = field(raw, "correlation_ids");
  let searchText: string;
  try {
    searchText = (JSON.stringify(field(raw, "payload")) ?? "").toLowerCase();
  } catch {
    searchText = "";
  }
  return {
    key: eventId ?? `invalid-${++anonymous}`,
    eventId,
    eventType: text(field(raw, "event_type")) ?? "(no event_type)",
    timestamp: text(field(raw, "timestamp")),
    sourceApp: text(field(raw, "source", "app")),
    agentName: text(field(raw, "agent_context", "name")),
    correlationIds: Array.isArray(correlation) ? correlation.filter((id): id is string => typeof id === "string") : [],
    envelope,
    raw,
    issues,
    searchText,
  };
}

/** Parse one WebSocket message: the envelope itself, or `{"event": envelope}`. */
export function checkMessage(data: string): CheckedEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch (error) {
    const checked = checkEvent(data);
    checked.issues = [{ path: "$", message: `not JSON: ${(error as Error).message}` }];
    return checked;
  }
  const inner = field(raw, "event");
  return checkEvent(inner !== undefined && field(raw, "event_id") === undefined ? inner : raw);
}
