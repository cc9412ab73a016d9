// Candystore: stored events, traces, statistics and dead letters (typed from its OpenAPI document),
// and the address of its live stream.
import type { components, operations, paths } from "./candystore.generated";
import { apiClient, timeout, unwrap } from "./http";

const SERVICE = "Candystore";

type Schemas = components["schemas"];
export type EventPage = Schemas["EventPage"];
export type TraceAnswer = Schemas["TraceModel"];
export type Stats = Schemas["StatsModel"];
export type StatsSeries = Schemas["SeriesModel"];
export type DeadLetter = Schemas["DeadLetterModel"];
export type DeadLetterPage = Schemas["DeadLetterPageModel"];
export type DeadLetterState = DeadLetter["state"];
export type DeadLetterFilter = Schemas["DeadLetterFilterBody"];
export type ReplayResponse = Schemas["ReplayResponse"];
export type EventQuery = NonNullable<operations["listEvents"]["parameters"]["query"]>;
export type DeadLetterQuery = NonNullable<operations["listDeadLetters"]["parameters"]["query"]>;

/** Most dead letters one replay request may name or match (Candystore's limit). */
export const MAX_REPLAY = 1000;

export class CandystoreClient {
  private readonly client;

  constructor(readonly baseUrl: string) {
    this.client = apiClient<paths>(baseUrl);
  }

  async events(query: EventQuery): Promise<EventPage> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/events", { params: { query }, ...timeout() }));
  }

  /**
   * `GET /events` with payload conditions besides the named filters: `payload.PATH[op]` parameters,
   * which the OpenAPI document cannot name one by one.
   */
  async eventsWhere(query: EventQuery, payload: Readonly<Record<string, string>>): Promise<EventPage> {
    // openapi-fetch writes parameter names as they are: a path is encoded here.
    const conditions = Object.fromEntries(Object.entries(payload).map(([name, value]) => [encodeURIComponent(name), value]));
    const params = { query: { ...query, ...conditions } as EventQuery };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/events", { params, ...timeout() }));
  }

  async event(id: string): Promise<unknown> {
    const params = { path: { event_id: id } };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/events/{event_id}", { params, ...timeout() }));
  }

  async trace(id: string): Promise<TraceAnswer> {
    const params = { path: { event_id: id } };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/events/trace/{event_id}", { params, ...timeout() }));
  }

  async stats(): Promise<Stats> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/stats", timeout()));
  }

  /** Per-minute points of the last `hours`, from the database every replica writes to. */
  async statsSeries(hours: number): Promise<StatsSeries> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/stats/series", { params: { query: { hours } }, ...timeout() }));
  }

  async deadLetters(query: DeadLetterQuery): Promise<DeadLetterPage> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/dlq", { params: { query }, ...timeout() }));
  }

  async deadLetter(id: string): Promise<DeadLetter> {
    const params = { path: { dead_letter_id: id } };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/dlq/{dead_letter_id}", { params, ...timeout() }));
  }

  /**
   * Replay the given dead letters, or every open one matching `filter` (at most MAX_REPLAY). `actor`
   * is who it is recorded as; null when the platform records the API key's client itself.
   */
  async replay(what: { ids: string[] } | { filter: DeadLetterFilter }, actor: string | null): Promise<ReplayResponse> {
    const body = { ...(actor === null ? {} : { actor }), limit: MAX_REPLAY, ...what };
    return unwrap(SERVICE, this.baseUrl, this.client.POST("/dlq/replay", { body, ...timeout(30_000) }));
  }

  /** Discard one dead letter with `reason`; `actor` as for `replay`. */
  async discard(id: string, reason: string, actor: string | null): Promise<DeadLetter> {
    const params = { path: { dead_letter_id: id }, query: actor === null ? { reason } : { reason, actor } };
    return unwrap(SERVICE, this.baseUrl, this.client.DELETE("/dlq/{dead_letter_id}", { params, ...timeout() }));
  }

  /** The WebSocket address of the live stream (every event, as stored). */
  streamUrl(): string {
    return `${this.baseUrl.replace(/^http/, "ws").replace(/\/+$/, "")}/events/stream`;
  }
}
