// The Bloodbank gateway: the Holyfields schema catalog it serves, typed from its OpenAPI document.
import type { components, paths } from "./gateway.generated";
import { apiClient, timeout, unwrap } from "./http";

export type SchemaSummary = components["schemas"]["SchemaSummary"];
export type SchemaDetail = components["schemas"]["SchemaDetail"];
export type CompatibilityAnswer = components["schemas"]["CompatibilityAnswer"];

const SERVICE = "Bloodbank gateway";

export class GatewayClient {
  private readonly client;

  constructor(readonly baseUrl: string) {
    this.client = apiClient<paths>(baseUrl);
  }

  async schemas(): Promise<SchemaSummary[]> {
    return (await unwrap(SERVICE, this.baseUrl, this.client.GET("/schemas", timeout()))).items;
  }

  async schema(eventType: string): Promise<SchemaDetail> {
    const params = { path: { event_type: eventType } };
    return unwrap(SERVICE, this.baseUrl, this.client.GET("/schemas/{event_type}", { params, ...timeout() }));
  }

  /** The registered majors of `eventType`'s event, oldest first. */
  async versions(eventType: string): Promise<SchemaSummary[]> {
    const params = { path: { event_type: eventType } };
    return (await unwrap(SERVICE, this.baseUrl, this.client.GET("/schemas/{event_type}/versions", { params, ...timeout() }))).items;
  }

  /** How `candidate` differs from the registered schema of `eventType`, as `holyfields diff` classifies it. */
  async compatibility(eventType: string, candidate: SchemaDetail["schema"]): Promise<CompatibilityAnswer> {
    const params = { path: { event_type: eventType } };
    return unwrap(SERVICE, this.baseUrl, this.client.POST("/schemas/{event_type}/compatibility", { params, body: candidate, ...timeout() }));
  }
}
