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
