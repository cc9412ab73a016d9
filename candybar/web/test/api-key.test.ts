import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { accessProblemOf, describeAccess, onKeyNeeded, retryAfterSeconds } from "../src/api/access";
import { CandystoreClient } from "../src/api/candystore";
import { ApiError, apiFetch } from "../src/api/http";
import { VisibilityClient } from "../src/api/visibility";
import { loadConfig } from "../src/config";
import { actorToSend } from "../src/lib/actor";
import { forgetKey, storeKey, storedKey, streamProtocols, withKey } from "../src/lib/api-key";
import { LiveConnection } from "../src/live-connection";

const KEY = "k3y-for-ui_test";
const UI = "http://ui.test";
const STORE = "http://store.test";

/** A Storage kept in a Map, as a browser's sessionStorage and localStorage are. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

let browser: { sessionStorage: MemoryStorage; localStorage: MemoryStorage; document: { cookie: string } };
let requests: Request[];

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** Make every fetch answer `respond(request)`, and keep the requests. */
function serve(respond: (request: Request) => Response): void {
  vi.stubGlobal("fetch", async (input: Request) => {
    requests.push(input);
    return respond(input);
  });
}

const UNAUTHORIZED = { errors: [{ path: "header.X-API-Key", message: "the API key is not valid" }] };

beforeEach(() => {
  browser = { sessionStorage: new MemoryStorage(), localStorage: new MemoryStorage(), document: { cookie: "" } };
  requests = [];
  vi.stubGlobal("window", {
    sessionStorage: browser.sessionStorage,
    localStorage: browser.localStorage,
    location: { href: `${UI}/live`, origin: UI },
    setTimeout: (work: () => void, ms: number) => setTimeout(work, ms),
    clearTimeout: (handle: ReturnType<typeof setTimeout>) => clearTimeout(handle),
  });
  vi.stubGlobal("document", browser.document);
  forgetKey();
});

afterEach(() => {
  forgetKey();
  vi.unstubAllGlobals();
});

describe("the key store", () => {
  it("keeps the key in this tab's sessionStorage only: not in localStorage, not in a cookie", () => {
    expect(storedKey()).toBeNull();
    storeKey(`  ${KEY}\n`);
    expect(storedKey()).toBe(KEY);
    expect(browser.sessionStorage.length).toBe(1);
    expect(browser.sessionStorage.getItem("candybar.api-key")).toBe(KEY);
    expect(browser.localStorage.length).toBe(0);
    expect(browser.document.cookie).toBe("");
  });

  it("forgets the key", () => {
    storeKey(KEY);
    forgetKey();
    expect(storedKey()).toBeNull();
    expect(browser.sessionStorage.length).toBe(0);
  });

  it("refuses an empty key", () => {
    expect(() => storeKey("   ")).toThrow("an API key cannot be empty");
    expect(storedKey()).toBeNull();
  });

  it("keeps the key for the page's life when the browser refuses storage", () => {
    vi.stubGlobal("window", {
      get sessionStorage(): Storage {
        throw new Error("SecurityError: storage is disabled");
      },
    });
    storeKey(KEY);
    expect(storedKey()).toBe(KEY);
    forgetKey();
    expect(storedKey()).toBeNull();
  });

  it("adds the key as a bearer token unless the caller chose the header", () => {
    expect(withKey(new Headers(), KEY).get("Authorization")).toBe(`Bearer ${KEY}`);
    expect(withKey(new Headers({ Authorization: "Bearer other" }), KEY).get("Authorization")).toBe("Bearer other");
    expect(withKey(new Headers(), null).has("Authorization")).toBe(false);
  });

  it("offers the stream's subprotocol and the key's, and none without a key", () => {
    expect(streamProtocols(null)).toEqual([]);
    expect(streamProtocols(KEY)).toEqual(["33god.v1", `bearer.${KEY}`]);
    expect(() => streamProtocols("a/b=")).toThrow("a WebSocket subprotocol takes only letters, digits");
  });
});

describe("calls with the key", () => {
  it("send the stored key as a bearer token, and no Authorization without one", async () => {
    serve(() => answer(200, {}));
    await apiFetch(`${STORE}/stats`);
    storeKey(KEY);
    await apiFetch(`${STORE}/stats`);
    expect(requests.map((request) => request.headers.get("Authorization"))).toEqual([null, `Bearer ${KEY}`]);
  });

  it("go through the typed clients with the key too", async () => {
    serve(() => answer(200, { items: [], next_cursor: null }));
    storeKey(KEY);
    await new CandystoreClient(STORE).events({ limit: 1 });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toBe(`${STORE}/events?limit=1`);
    expect(requests[0]?.headers.get("Authorization")).toBe(`Bearer ${KEY}`);
  });

  it("leave the actor out when the key's client is recorded, and send the typed name without a key", async () => {
    serve((request) =>
      request.url.includes("/conflicts/")
        ? answer(200, { conflict_id: "c1" })
        : answer(200, request.method === "DELETE" ? { id: "d1" } : { replayed: 0, results: [] }),
    );
    const store = new CandystoreClient(STORE);
    expect(actorToSend(" ops@example.com ")).toBe("ops@example.com");
    await store.replay({ ids: ["d1"] }, actorToSend("ops@example.com"));
    storeKey(KEY);
    expect(actorToSend("ops@example.com")).toBeNull();
    await store.replay({ ids: ["d1"] }, actorToSend("ops@example.com"));
    await store.discard("d1", "duplicate", actorToSend("ops@example.com"));
    await new VisibilityClient("http://visibility.test").act("c1", { action: "acknowledge", note: null });
    const [openReplay, keyedReplay, keyedDiscard, keyedAction] = requests;
    expect(await openReplay?.json()).toEqual({ actor: "ops@example.com", limit: 1000, ids: ["d1"] });
    expect(await keyedReplay?.json()).toEqual({ limit: 1000, ids: ["d1"] });
    expect(new URL(keyedDiscard?.url ?? "").searchParams.has("actor")).toBe(false);
    expect(await keyedAction?.json()).toEqual({ action: "acknowledge", note: null });
  });
});

describe("a 401", () => {
  it("asks for a key, quoting the server, and forgets the key it refused", async () => {
    const asked: (string | null)[] = [];
    const stop = onKeyNeeded((request) => asked.push(request.rejected));
    serve(() => answer(401, UNAUTHORIZED, { "WWW-Authenticate": 'Bearer realm="33god"' }));
    storeKey("wrong");
    const error = await new CandystoreClient(STORE).stats().catch((thrown: unknown) => thrown);
    stop();
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).access).toEqual({ kind: "unauthenticated", message: "the API key is not valid" });
    expect(asked).toEqual(["the API key is not valid"]);
    expect(storedKey()).toBeNull();
  });

  it("without a key asks for one without calling anything refused", async () => {
    const asked: (string | null)[] = [];
    const stop = onKeyNeeded((request) => asked.push(request.rejected));
    serve(() => answer(401, { errors: [{ path: "header.X-API-Key", message: "an API key is required" }] }));
    await apiFetch(`${STORE}/stats`);
    stop();
    expect(asked).toEqual([null]);
  });

  it("to a key being tried is that call's answer only: nothing is announced or forgotten", async () => {
    const asked: (string | null)[] = [];
    const stop = onKeyNeeded((request) => asked.push(request.rejected));
    storeKey(KEY);
    serve(() => answer(401, UNAUTHORIZED));
    const error = await loadConfig("wrong").catch((thrown: unknown) => thrown);
    stop();
    expect(requests[0]?.url).toBe(`${UI}/config.json`);
    expect(requests[0]?.headers.get("Authorization")).toBe("Bearer wrong");
    expect((error as ApiError).access?.kind).toBe("unauthenticated");
    expect(asked).toEqual([]);
    expect(storedKey()).toBe(KEY);
  });
});

describe("a 403 and a 429", () => {
  it("are not a request for a key, and say the scope or how long to wait", async () => {
    const asked: (string | null)[] = [];
    const stop = onKeyNeeded((request) => asked.push(request.rejected));
    storeKey(KEY);
    const scope = "client 'viewer' may not act on dead letters or conflicts: its key lacks the scope 'operate'";
    serve((request) =>
      request.method === "POST"
        ? answer(403, { errors: [{ path: null, message: scope }] })
        : answer(429, { errors: [{ path: null, message: "client 'viewer' is over its rate for 'read'; retry after 7 s" }] }, { "Retry-After": "7" }),
    );
    const store = new CandystoreClient(STORE);
    const forbidden = (await store.replay({ ids: ["d1"] }, null).catch((thrown: unknown) => thrown)) as ApiError;
    const limited = (await store.stats().catch((thrown: unknown) => thrown)) as ApiError;
    stop();
    expect(forbidden.access).toEqual({ kind: "forbidden", message: scope });
    expect(describeAccess(forbidden.access!)).toBe(`Your key lacks the scope for this: ${scope}`);
    expect(limited.retryAfter).toBe(7);
    expect(describeAccess(limited.access!)).toMatch(/^Rate limited: retry in 7 s: /);
    expect(asked).toEqual([]);
    expect(storedKey()).toBe(KEY);
  });

  it("read Retry-After as seconds or a date, and a stream's reason when it has no header", () => {
    expect(retryAfterSeconds("12")).toBe(12);
    expect(retryAfterSeconds("Thu, 01 Jan 1970 00:00:30 GMT", 10_000)).toBe(20);
    expect(retryAfterSeconds(null)).toBeNull();
    expect(accessProblemOf(4429, "client 'x' is over its rate for 'read'; retry after 3 s")).toMatchObject({ kind: "limited", retryAfter: 3 });
    expect(accessProblemOf(500, "boom")).toBeNull();
  });
});

/** A WebSocket that records what it was offered; the test closes it as the server would. */
class FakeSocket {
  static opened: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((message: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.opened.push(this);
  }
  close(): void {}
  refuse(code: number, reason: string): void {
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

describe("the live stream", () => {
  beforeEach(() => {
    FakeSocket.opened = [];
    vi.stubGlobal("WebSocket", FakeSocket);
  });

  it("offers the key as a subprotocol, and when refused for it asks for a key instead of retrying", () => {
    storeKey(KEY);
    const asked: (string | null)[] = [];
    const stop = onKeyNeeded((request) => asked.push(request.rejected));
    const connection = new LiveConnection(`ws://store.test/events/stream`, null, () => streamProtocols());
    connection.start();
    const [socket] = FakeSocket.opened;
    expect(socket?.protocols).toEqual(["33god.v1", `bearer.${KEY}`]);
    socket?.refuse(4401, "the API key is not valid");
    stop();
    connection.stop();
    expect(connection.state).toEqual({ status: "refused", problem: { kind: "unauthenticated", message: "the API key is not valid" } });
    expect(asked).toEqual(["the API key is not valid"]);
    expect(storedKey()).toBeNull();
    expect(FakeSocket.opened).toHaveLength(1);
  });

  it("waits as long as the server says when the client is over its rate", () => {
    storeKey(KEY);
    const connection = new LiveConnection(`ws://store.test/events/stream`, null, () => streamProtocols());
    connection.start();
    const before = Date.now();
    FakeSocket.opened[0]?.refuse(4429, "client 'ui-test' is over its rate for 'read'; retry after 3 s");
    const state = connection.state;
    connection.stop();
    expect(state.status).toBe("waiting");
    if (state.status === "waiting") {
      expect(state.retryAt - before).toBeGreaterThanOrEqual(3000);
      expect(state.retryAt - before).toBeLessThan(3500);
      expect(state.reason).toContain("Rate limited: retry in 3 s");
    }
    expect(storedKey()).toBe(KEY);
  });

  it("offers no subprotocol without a key, as on a platform without keys", () => {
    const connection = new LiveConnection(`ws://store.test/events/stream`, null, () => streamProtocols());
    connection.start();
    connection.stop();
    expect(FakeSocket.opened[0]?.protocols).toEqual([]);
  });
});
