// The WebSocket to Candystore's live stream: reconnects with backoff, feeds the LiveFeed, and
// tells the page to render at most a few times a second however fast events arrive. Once the
// stream is open, the most recent stored events are loaded beneath it (once; again after a failure).
// With API keys on, the key travels as a subprotocol; a stream refused for its key (4401, 4403) waits
// for the person, and one refused for its rate (4429) retries when the server said.
import { accessProblemOf, describeAccess, keyNeeded, type AccessProblem } from "./api/access";
import { LiveFeed } from "./lib/live";

/** Loads the most recent stored events, newest first. */
export type RecentEvents = () => Promise<readonly unknown[]>;

/** The subprotocols to offer on each connection (the key's among them); may throw when it cannot be offered. */
export type Protocols = () => string[];

export type PreloadState = { status: "waiting" | "loading" | "done" } | { status: "failed"; reason: string };

export type LinkState =
  | { status: "connecting" }
  | { status: "open"; since: number }
  | { status: "waiting"; retryAt: number; reason: string }
  /** Refused for the key (none, a wrong one, or one without the scope): tried again only when asked. */
  | { status: "refused"; problem: AccessProblem };

const RENDER_EVERY_MS = 250;
const MAX_BACKOFF_MS = 15_000;

export class LiveConnection {
  readonly feed = new LiveFeed();
  state: LinkState = { status: "connecting" };
  preload: PreloadState = { status: "waiting" };
  private socket: WebSocket | null = null;
  private listeners = new Set<() => void>();
  private failures = 0;
  private timer: number | null = null;
  private renderScheduled = false;
  private stopped = true;

  constructor(
    readonly url: string,
    private readonly recent: RecentEvents | null = null,
    private readonly protocols: Protocols = () => [],
  ) {}

  /** Listen for changes; returns the function that stops listening. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.stopped) this.start();
    return () => this.listeners.delete(listener);
  }

  private notify(now = false): void {
    if (now) {
      for (const listener of this.listeners) listener();
      return;
    }
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    window.setTimeout(() => {
      this.renderScheduled = false;
      for (const listener of this.listeners) listener();
    }, RENDER_EVERY_MS);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }

  private connect(): void {
    this.state = { status: "connecting" };
    this.notify(true);
    let socket: WebSocket;
    let keyOffered: boolean;
    try {
      const protocols = this.protocols();
      keyOffered = protocols.length > 0;
      socket = new WebSocket(this.url, protocols);
    } catch (error) {
      this.retry(`cannot open ${this.url}: ${(error as Error).message}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.failures = 0;
      this.state = { status: "open", since: Date.now() };
      this.notify(true);
      this.loadRecent();
    };
    socket.onmessage = (message: MessageEvent) => {
      if (typeof message.data === "string") {
        this.feed.receive(message.data, Date.now());
        this.notify();
      }
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const reason = event.reason || (event.code === 1006 ? `Candystore's stream at ${this.url} is unreachable` : `closed (${event.code})`);
      const problem = accessProblemOf(event.code, reason);
      if (problem === null) this.retry(reason);
      else this.refused(problem, keyOffered);
    };
  }

  /** Opened after the stream, so nothing committed in between is missed; the feed drops what both bring. */
  private loadRecent(): void {
    if (this.recent === null || this.preload.status === "loading" || this.preload.status === "done") return;
    this.preload = { status: "loading" };
    this.recent().then(
      (documents) => {
        this.feed.preload(documents);
        this.preload = { status: "done" };
        this.notify(true);
      },
      (error: unknown) => {
        this.preload = { status: "failed", reason: error instanceof Error ? error.message : String(error) };
        this.notify(true);
      },
    );
  }

  private refused(problem: AccessProblem, keyOffered: boolean): void {
    if (problem.kind === "limited") {
      this.retry(describeAccess(problem), problem.retryAfter === null ? undefined : problem.retryAfter * 1000);
      return;
    }
    this.state = { status: "refused", problem };
    this.notify(true);
    if (problem.kind === "unauthenticated") keyNeeded(keyOffered ? problem.message : null);
  }

  private retry(reason: string, after?: number): void {
    if (this.stopped) return;
    const delay = after ?? Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.failures);
    this.failures += 1;
    this.state = { status: "waiting", retryAt: Date.now() + delay, reason };
    this.notify(true);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  /** Try again now instead of waiting for the backoff. */
  reconnect(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.failures = 0;
    this.socket?.close();
    this.socket = null;
    this.connect();
  }

  changed(): void {
    this.notify(true);
  }
}
