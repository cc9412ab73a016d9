// The live page's model: events checked as they arrive, kept in a capped buffer, held back while paused,
// and the most recent stored events preloaded beneath them so the page does not open empty.
import { RingBuffer } from "./buffer";
import { checkEvent, checkMessage, type CheckedEvent } from "./envelope";
import { RateCounter } from "./rate";

export const LIVE_CAPACITY = 10_000;

export class LiveFeed {
  readonly buffer: RingBuffer<CheckedEvent>;
  readonly rate = new RateCounter(60);
  /** Arrived while paused: shown on resume (the newest `capacity` of them). */
  private held: CheckedEvent[] = [];
  private seen = new Set<string>();
  paused = false;
  /** Events that failed the Zod check, since the page opened. */
  invalid = 0;
  /** Bumped on every change, so a view knows when to read the buffer again. */
  version = 0;

  constructor(readonly capacity = LIVE_CAPACITY) {
    this.buffer = new RingBuffer<CheckedEvent>(capacity);
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Take one WebSocket message (or an already decoded document) that arrived at `nowMs`. */
  receive(message: string, nowMs: number): CheckedEvent | null {
    const event = checkMessage(message);
    return this.add(event, nowMs);
  }

  add(event: CheckedEvent, nowMs: number): CheckedEvent | null {
    if (event.eventId !== null && this.seen.has(event.key)) return null; // a redelivery after a reconnect
    this.rate.record(nowMs);
    if (event.issues.length > 0) this.invalid += 1;
    if (event.eventId !== null) this.seen.add(event.key);
    if (this.paused) {
      this.held.push(event);
      if (this.held.length > this.capacity) {
        for (const dropped of this.held.splice(0, this.held.length - this.capacity)) this.forget(dropped);
      }
    } else {
      this.store(event);
    }
    this.version += 1;
    return event;
  }

  private forget(event: CheckedEvent | undefined): void {
    if (event?.eventId) this.seen.delete(event.key);
  }

  private store(event: CheckedEvent): void {
    // The oldest event leaves the buffer to make room: a later copy of it is news again.
    if (this.buffer.size === this.capacity) this.forget(this.buffer.newest(this.capacity - 1));
    this.buffer.push(event);
  }

  /**
   * Put events stored before the page opened (newest first, as Candystore's `order=desc` answers)
   * beneath those the stream already brought, each event once; returns how many were added.
   * The stream may have delivered some of them already, or deliver them later: either copy is dropped.
   */
  preload(documents: readonly unknown[]): number {
    const older: CheckedEvent[] = [];
    for (let index = documents.length - 1; index >= 0; index -= 1) {
      const event = checkEvent(documents[index]);
      if (event.eventId !== null) {
        if (this.seen.has(event.key)) continue;
        this.seen.add(event.key);
      }
      if (event.issues.length > 0) this.invalid += 1;
      older.push(event);
    }
    if (older.length === 0) return 0;
    const merged = [...older, ...this.buffer.newestFirst().reverse()];
    const overflow = Math.max(0, merged.length - this.capacity);
    for (const dropped of merged.slice(0, overflow)) this.forget(dropped);
    this.buffer.clear();
    this.buffer.push(...merged.slice(overflow));
    this.version += 1;
    return older.length - Math.min(overflow, older.length);
  }

  pause(): void {
    this.paused = true;
    this.version += 1;
  }

  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const event of held) this.store(event);
    this.version += 1;
  }

  clear(): void {
    this.buffer.clear();
    this.held = [];
    this.seen.clear();
    this.invalid = 0;
    this.version += 1;
  }
}
