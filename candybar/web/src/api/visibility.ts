// The visibility layer: conflicts, the actions taken on them, the OKR figures and their hourly trend,
// typed from its OpenAPI document.
import type { BulkActionAnswer, ConflictDetail, ConflictPage, Okr, Rules, Trend } from "../lib/conflicts";
import type { operations, paths } from "./visibility.generated";
import { apiClient, timeout, unwrap } from "./http";

const SERVICE = "Visibility";

export type ConflictQuery = NonNullable<operations["listConflicts"]["parameters"]["query"]>;
export type ActionRequest = operations["actOnConflict"]["requestBody"]["content"]["application/json"];
export type BulkActionRequest = operations["actOnConflicts"]["requestBody"]["content"]["application/json"];

export class VisibilityClient {
  private readonly client;

  constructor(readonly baseUrl: string) {
    this.client = apiClient<paths>(baseUrl);
  }

  async conflicts(query: ConflictQuery): Promise<ConflictPage> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/conflicts", { params: { query }, ...timeout() }));
  }

  async conflict(id: string): Promise<ConflictDetail> {
    const params = { path: { conflict_id: id } };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/conflicts/{conflict_id}", { params, ...timeout() }));
  }

  /** Apply an action; the conflict as it is afterwards (with its actions). */
  async act(id: string, body: ActionRequest): Promise<ConflictDetail> {
    const params = { path: { conflict_id: id } };
    return unwrap(SERVICE, this.baseUrl, this.client.POST("/conflicts/{conflict_id}/actions", { params, body, ...timeout() }));
  }

  /** Apply one action with one note to many conflicts; what happened to each, in the order given. */
  async actOnMany(body: BulkActionRequest): Promise<BulkActionAnswer> {
    return unwrap(SERVICE, this.baseUrl, this.client.POST("/conflict-actions", { body, ...timeout() }));
  }

  async okr(): Promise<Okr> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/okr", timeout()));
  }

  /** The rules in force, each with the share of its conflicts disputed and, when flagged, a suggested change. */
  async rules(): Promise<Rules> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/rules", timeout()));
  }

  /** The conflict rate per clock hour over the last `hours` (the running hour last). */
  async trend(hours: number): Promise<Trend> {
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/okr/trend", { params: { query: { hours } }, ...timeout() }));
  }
}
