// Where the APIs are: the server says so in /config.json (CANDYBAR_* settings).
import { z } from "zod";

const ConfigSchema = z.object({
  apis: z.object({
    gateway: z.url(),
    candystore: z.url(),
    visibility: z.url(),
  }),
});

export type Config = z.infer<typeof ConfigSchema>;

export async function loadConfig(): Promise<Config> {
  const response = await fetch("/config.json", { cache: "no-store", signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`/config.json answered HTTP ${response.status}`);
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
