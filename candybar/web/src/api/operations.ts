// Candystore's operations routes (typed from its OpenAPI document): the consumer queues as the broker
// sees them, and replays of stored events with their progress.
import type { components, paths } from "./candystore.generated";
import { apiClient, timeout, unwrap } from "./http";

const SERVICE = "Candystore";

type Schemas = components["schemas"];
export type Consumers = Schemas["ConsumersModel"];
export type ConsumerQueue = Schemas["ConsumerQueueModel"];
export type QueueFigures = Schemas["QueueModel"];
export type ReplayProgress = Schemas["EventReplayProgress"];
export type ReplayCount = Schemas["EventReplayCount"];

/** The filters of a replay: those of `GET /events` that the replay page offers. */
export interface ReplayFilters {
  event_type?: string;
  source_app?: string;
  since?: string;
  until?: string;
}

export class OperationsClient {
  private readonly client;

  constructor(readonly baseUrl: string) {
    this.client = apiClient<paths>(baseUrl);
  }

  async consumers(): Promise<Consumers> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/consumers", timeout()));
  }

  /** How many stored events `filters` choose (a dry run: nothing is published). */
  async countReplay(filters: ReplayFilters): Promise<number> {
    const answer = await unwrap(
      SERVICE,
      this.baseUrl,
      this.client.POST("/replay", { params: { query: filters }, body: { dry_run: true }, ...timeout(30_000) }),
    );
    return answer.matched;
  }

  /** Start republishing what `filters` choose; `actor` is null when the platform records the key's client. */
  async startReplay(filters: ReplayFilters, actor: string | null): Promise<ReplayProgress> {
    const body = actor === null ? { dry_run: false } : { dry_run: false, actor };
    const answer = await unwrap(SERVICE, this.baseUrl, this.client.POST("/replay", { params: { query: filters }, body, ...timeout(30_000) }));
    if (!("replay_id" in answer)) throw new Error("Candystore answered a count where a replay was asked for");
    return answer;
  }

  async replayProgress(id: string): Promise<ReplayProgress> {
    const params = { path: { replay_id: id } };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/replay/{replay_id}", { params, ...timeout() }));
  }
}
