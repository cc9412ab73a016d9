import { describe, expect, it } from "vitest";

import { RingBuffer } from "../src/lib/buffer";
import { LiveFeed } from "../src/lib/live";
import { envelope } from "./fixtures";

describe("the capped buffer", () => {
  it("keeps the newest items, newest first, and counts what it dropped", () => {
    const buffer = new RingBuffer<number>(3);
    buffer.push(1, 2);
    expect(buffer.newestFirst()).toEqual([2, 1]);
    buffer.push(3, 4, 5);
    expect(buffer.size).toBe(3);
    expect(buffer.newestFirst()).toEqual([5, 4, 3]);
    expect(buffer.dropped).toBe(2);
    expect(buffer.newest(0)).toBe(5);
    expect(buffer.newest(3)).toBeUndefined();
    expect(buffer.newestFirst((n) => n % 2 === 1)).toEqual([5, 3]);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });

  it("holds 10,000 events at most however many arrive", () => {
    const buffer = new RingBuffer<number>(10_000);
    for (let n = 0; n < 25_000; n += 1) buffer.push(n);
    expect(buffer.size).toBe(10_000);
    expect(buffer.newest(0)).toBe(24_999);
    expect(buffer.newest(9_999)).toBe(15_000);
  });
});

describe("the live feed", () => {
  it("holds events back while paused and shows them on resume", () => {
    const feed = new LiveFeed(100);
    feed.receive(JSON.stringify(envelope()), 0);
    feed.pause();
    feed.receive(JSON.stringify(envelope()), 1);
    feed.receive(JSON.stringify(envelope()), 2);
    expect(feed.buffer.size).toBe(1);
    expect(feed.heldCount).toBe(2);
    feed.resume();
    expect(feed.buffer.size).toBe(3);
    expect(feed.heldCount).toBe(0);
  });

  it("drops a redelivered event but keeps flagged ones apart", () => {
    const feed = new LiveFeed(100);
    const raw = JSON.stringify(envelope());
    expect(feed.receive(raw, 0)).not.toBeNull();
    expect(feed.receive(raw, 1)).toBeNull();
    feed.receive("{broken", 2);
    feed.receive("{broken", 3);
    expect(feed.buffer.size).toBe(3);
    expect(feed.invalid).toBe(2);
  });

  it("stays capped, paused or not", () => {
    const feed = new LiveFeed(50);
    for (let n = 0; n < 120; n += 1) feed.receive(JSON.stringify(envelope()), n);
    feed.pause();
    for (let n = 0; n < 120; n += 1) feed.receive(JSON.stringify(envelope()), n);
    expect(feed.heldCount).toBe(50);
    feed.resume();
    expect(feed.buffer.size).toBe(50);
  });

  it("forgets an evicted event, so a later copy of it is shown again", () => {
    const feed = new LiveFeed(2);
    const first = JSON.stringify(envelope());
    feed.receive(first, 0);
    feed.receive(JSON.stringify(envelope()), 1);
    feed.receive(JSON.stringify(envelope()), 2);
    expect(feed.receive(first, 3)).not.toBeNull();
  });
});

describe("preloading the most recent stored events", () => {
  const ids = (feed: LiveFeed): (string | null)[] => feed.buffer.newestFirst().map((event) => event.eventId);

  it("shows them newest first when the stream has brought nothing yet", () => {
    const feed = new LiveFeed(100);
    const stored = [envelope(), envelope(), envelope()]; // newest first, as order=desc answers
    expect(feed.preload(stored)).toBe(3);
    expect(ids(feed)).toEqual(stored.map((event) => event.event_id));
  });

  it("puts them beneath what the stream brought, each event once", () => {
    const feed = new LiveFeed(100);
    const shared = envelope();
    const live = envelope();
    feed.receive(JSON.stringify(shared), 0);
    feed.receive(JSON.stringify(live), 1);
    const older = envelope();
    expect(feed.preload([shared, older])).toBe(1);
    expect(ids(feed)).toEqual([live.event_id, shared.event_id, older.event_id]);
    expect(feed.receive(JSON.stringify(older), 2)).toBeNull(); // the stream repeats a preloaded one: dropped
    expect(feed.buffer.size).toBe(3);
  });

  it("keeps the newest when they do not all fit, and forgets what it dropped", () => {
    const feed = new LiveFeed(3);
    const live = envelope();
    feed.receive(JSON.stringify(live), 0);
    const stored = [envelope(), envelope(), envelope(), envelope()];
    feed.preload(stored);
    expect(ids(feed)).toEqual([live.event_id, stored[0]?.event_id, stored[1]?.event_id]);
    expect(feed.receive(JSON.stringify(stored[3]), 1)).not.toBeNull(); // dropped, so news again
  });

  it("counts invalid stored events, shows them flagged, and ignores an empty answer", () => {
    const feed = new LiveFeed(10);
    expect(feed.preload([])).toBe(0);
    const before = feed.version;
    feed.preload([envelope({ payload: { price: "free" } })]);
    expect(feed.invalid).toBe(1);
    expect(feed.buffer.newest(0)?.issues.length).toBeGreaterThan(0);
    expect(feed.version).toBeGreaterThan(before);
  });

  it("goes beneath events held back while paused, which appear on resume", () => {
    const feed = new LiveFeed(10);
    feed.pause();
    const held = envelope();
    feed.receive(JSON.stringify(held), 0);
    const stored = envelope();
    feed.preload([stored, held]);
    expect(ids(feed)).toEqual([stored.event_id]);
    feed.resume();
    expect(ids(feed)).toEqual([held.event_id, stored.event_id]);
  });
});
