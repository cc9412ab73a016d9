// Where the APIs are: the server says so in /config.json (CANDYBAR_* settings). With API keys on,
// it answers only a caller with a key that may read, so this is also where a key is first tried.
import { z } from "zod";

import { ApiError, apiFetch, errorOf } from "./api/http";

const ConfigSchema = z.object({
  apis: z.object({
    gateway: z.url(),
    candystore: z.url(),
    visibility: z.url(),
  }),
});

export type Config = z.infer<typeof ConfigSchema>;

const SERVICE = "Candybar";

/**
 * The configuration, asked with the stored key, or with `key` when given (a key being tried: then a
 * 401 is this call's answer alone, not an announcement that a key is needed). An error answer or
 * none is an ApiError; a configuration the UI cannot read is an Error.
 */
export async function loadConfig(key?: string): Promise<Config> {
  const headers = key === undefined ? undefined : { Authorization: `Bearer ${key}` };
  let response: Response;
  try {
    response = await apiFetch(new URL("/config.json", window.location.href).toString(), {
      cache: "no-store",
      headers,
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new ApiError(SERVICE, 0, [{ path: null, message: `/config.json: unreachable at ${window.location.origin}` }]);
  }
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: the status says it
    }
    throw errorOf(SERVICE, response, body);
  }
  const parsed = ConfigSchema.safeParse(await response.json());
  if (!parsed.success) {
    throw new Error(`/config.json is not what the UI expects: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  }
  return parsed.data;
}

/** `ws://…` or `wss://…` for an `http(s)://…` base URL. */
export function websocketBase(httpBase: string): string {
  return httpBase.replace(/^http/, "ws");
}
