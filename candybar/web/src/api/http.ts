// Calls to the platform's APIs: every one goes through `apiFetch` (the API key, when there is one,
// and the announcement of a 401), has a timeout, and fails with one error type that says which
// service answered what, from the platform's error shape `{"errors": [{"path", "message"}]}`.
import createClient from "openapi-fetch";

import { storedKey, withKey } from "../lib/api-key";
import { accessProblemOf, keyNeeded, retryAfterSeconds, type AccessProblem } from "./access";

export interface Problem {
  path: string | null;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly service: string,
    /** The HTTP status; 0 when the service did not answer at all. */
    readonly status: number,
    readonly problems: Problem[],
    /** Seconds to wait, from a 429's `Retry-After`; null when the answer said none. */
    readonly retryAfter: number | null = null,
  ) {
    super(`${service}: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ")}`);
    this.name = "ApiError";
  }

  get notFound(): boolean {
    return this.status === 404;
  }

  /** What the answer says about the key (401, 403, 429); null for any other answer. */
  get access(): AccessProblem | null {
    return accessProblemOf(this.status, this.problems.map((p) => p.message).join("; "), this.retryAfter);
  }
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The problems in an error answer's body, or one that quotes the status when the body has none. */
export function problemsOf(status: number, body: unknown): Problem[] {
  const errors = (body as { errors?: unknown } | null)?.errors;
  if (Array.isArray(errors)) {
    const problems = errors
      .filter((item): item is { path?: unknown; message?: unknown } => typeof item === "object" && item !== null)
      .map((item) => ({
        path: typeof item.path === "string" ? item.path : null,
        message: typeof item.message === "string" ? item.message : JSON.stringify(item.message),
      }));
    if (problems.length > 0) return problems;
  }
  const detail = (body as { detail?: unknown } | null)?.detail;
  return [{ path: null, message: typeof detail === "string" ? detail : `answered HTTP ${status}` }];
}

/**
 * `fetch` for every call to the platform: it carries the stored key as `Authorization: Bearer KEY`
 * (unless the caller set that header itself, as when a new key is tried), and a 401 to such a call
 * announces that a key is needed (see `onKeyNeeded`). The answer is returned as it came.
 */
export async function apiFetch(input: Request | string, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  const chosenByCaller = request.headers.has("Authorization");
  const key = chosenByCaller ? null : storedKey();
  withKey(request.headers, key);
  const response = await fetch(request);
  if (response.status === 401 && !chosenByCaller) await announceKeyNeeded(response.clone(), key !== null);
  return response;
}

async function announceKeyNeeded(response: Response, keySent: boolean): Promise<void> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // no JSON body: the status says it
  }
  keyNeeded(keySent ? problemsOf(401, body).map((problem) => problem.message).join("; ") : null);
}

/** A typed client of one service's API (its OpenAPI `paths`), calling through `apiFetch`. */
export function apiClient<Paths extends {}>(baseUrl: string) {
  return createClient<Paths>({ baseUrl, fetch: apiFetch });
}

/** An error answer's ApiError: its problems and, for a 429, how long to wait. */
export function errorOf(service: string, response: Response, body: unknown): ApiError {
  return new ApiError(service, response.status, problemsOf(response.status, body), retryAfterSeconds(response.headers.get("Retry-After")));
}

/** Fetch text (Prometheus metrics) from `url`; an error answer or no answer at all becomes an ApiError. */
export async function requestText(service: string, url: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  let response: Response;
  try {
    response = await apiFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    throw new ApiError(service, 0, [{ path: null, message: `unreachable at ${new URL(url).origin}` }]);
  }
  const text = await response.text();
  if (!response.ok) {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the status is all there is to say
    }
    throw errorOf(service, response, body);
  }
  return text;
}

/** `base` + `path` (already encoded) + the non-empty query parameters. */
export function urlOf(base: string, path: string, query: Record<string, string | number | undefined | null> = {}): string {
  const url = new URL(`${base.replace(/\/+$/, "")}${path}`);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && `${value}` !== "") url.searchParams.set(key, `${value}`);
  }
  return url.toString();
}

/** The data of an openapi-fetch answer; an error answer or no answer becomes an ApiError. */
export async function unwrap<T>(
  service: string,
  baseUrl: string,
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (error) {
    const reason = (error as Error).name === "TimeoutError" ? "no answer in time" : "unreachable";
    throw new ApiError(service, 0, [{ path: null, message: `${reason} at ${baseUrl}` }]);
  }
  if (result.error !== undefined || result.data === undefined) {
    throw errorOf(service, result.response, result.error);
  }
  return result.data;
}

/** Options every call passes: its own time-out. */
export function timeout(ms = DEFAULT_TIMEOUT_MS): { signal: AbortSignal } {
  return { signal: AbortSignal.timeout(ms) };
}

/** A health probe's status and body; status 0 when nothing answered. Never throws. */
export async function probe(url: string, timeoutMs = 5_000): Promise<{ status: number; body: unknown }> {
  try {
    const response = await apiFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // a probe may answer plain text
    }
    return { status: response.status, body };
  } catch {
    return { status: 0, body: null };
  }
}
