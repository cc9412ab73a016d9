// A ring buffer with a fixed capacity: the live page keeps the newest events and drops the oldest,
// so memory and render work stay bounded however long the stream runs.

export class RingBuffer<T> {
  readonly capacity: number;
  private readonly slots: (T | undefined)[];
  private start = 0;
  private count = 0;
  /** How many items were pushed out to make room, since the buffer was made or cleared. */
  dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(...items: T[]): void {
    for (const item of items) {
      if (this.count < this.capacity) {
        this.slots[(this.start + this.count) % this.capacity] = item;
        this.count += 1;
      } else {
        this.slots[this.start] = item;
        this.start = (this.start + 1) % this.capacity;
        this.dropped += 1;
      }
    }
  }

  /** The `index`-th newest item (0 is the newest). */
  newest(index: number): T | undefined {
    if (index < 0 || index >= this.count) return undefined;
    return this.slots[(this.start + this.count - 1 - index) % this.capacity];
  }

  /** Every item, newest first, that `keep` accepts. */
  newestFirst(keep: (item: T) => boolean = () => true): T[] {
    const out: T[] = [];
    for (let index = 0; index < this.count; index += 1) {
      const item = this.newest(index) as T;
      if (keep(item)) out.push(item);
    }
    return out;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.start = 0;
    this.count = 0;
    this.dropped = 0;
  }
}
