// The visibility layer: conflicts, the actions taken on them, and the OKR figures. Requests are typed
// from its OpenAPI document; its answers are not described there, so each is checked with the Zod
// schemas of lib/conflicts before the page relies on it.
import createClient from "openapi-fetch";
import type { z } from "zod";

import { ConflictPageSchema, ConflictSchema, OkrSchema, type Conflict, type ConflictPage, type Okr } from "../lib/conflicts";
import { jsonPath } from "../lib/envelope";
import type { operations, paths } from "./visibility.generated";
import { ApiError, timeout, unwrap } from "./http";

const SERVICE = "Visibility";

export type ConflictQuery = NonNullable<operations["list_conflicts_conflicts_get"]["parameters"]["query"]>;
export type ActionRequest = operations["act_conflicts__conflict_id__actions_post"]["requestBody"]["content"]["application/json"];

/** `data` as `schema` says, or an ApiError naming every field that is not what the UI expects. */
export function checked<T>(schema: z.ZodType<T>, data: unknown): T {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  throw new ApiError(
    SERVICE,
    200,
    parsed.error.issues.map((issue) => ({ path: jsonPath(issue.path), message: `${issue.message} (not what the UI expects)` })),
  );
}

export class VisibilityClient {
  private readonly client;

  constructor(readonly baseUrl: string) {
    this.client = createClient<paths>({ baseUrl });
  }

  async conflicts(query: ConflictQuery): Promise<ConflictPage> {
    const answer = await unwrap(SERVICE, this.baseUrl, this.client.GET("/conflicts", { params: { query }, ...timeout() }));
    return checked(ConflictPageSchema, answer);
  }

  async conflict(id: string): Promise<Conflict> {
    const params = { path: { conflict_id: id } };
    const answer = await unwrap(SERVICE, this.baseUrl, this.client.GET("/conflicts/{conflict_id}", { params, ...timeout() }));
    return checked(ConflictSchema, answer);
  }

  /** Apply an action; the conflict as it is afterwards (with its actions). */
  async act(id: string, body: ActionRequest): Promise<Conflict> {
    const params = { path: { conflict_id: id } };
    const answer = await unwrap(
      SERVICE,
      this.baseUrl,
      this.client.POST("/conflicts/{conflict_id}/actions", { params, body, ...timeout() }),
    );
    return checked(ConflictSchema, answer);
  }

  async okr(): Promise<Okr> {
    return checked(OkrSchema, await unwrap(SERVICE, this.baseUrl, this.client.GET("/okr", timeout())));
  }
}
