// Events per second over the last minute, for the live page's sparkline.

export class RateCounter {
  private readonly counts: number[];
  private newestSecond: number | null = null;

  /** `seconds` buckets of one second each. */
  constructor(readonly seconds = 60) {
    this.counts = new Array<number>(seconds).fill(0);
  }

  private advance(second: number): void {
    if (this.newestSecond === null) {
      this.newestSecond = second;
      return;
    }
    const gap = second - this.newestSecond;
    if (gap <= 0) return;
    for (let step = 1; step <= Math.min(gap, this.seconds); step += 1) {
      this.counts[(this.newestSecond + step) % this.seconds] = 0;
    }
    this.newestSecond = second;
  }

  /** Count `n` events arriving at `nowMs` (milliseconds since the epoch). */
  record(nowMs: number, n = 1): void {
    const second = Math.floor(nowMs / 1000);
    this.advance(second);
    const newest = this.newestSecond as number;
    if (newest - second < this.seconds) {
      this.counts[second % this.seconds] = (this.counts[second % this.seconds] ?? 0) + n;
    }
  }

  /** Events per second, oldest second first, ending with the second of `nowMs`. */
  series(nowMs: number): number[] {
    this.advance(Math.floor(nowMs / 1000));
    const newest = this.newestSecond as number;
    const out: number[] = [];
    for (let age = this.seconds - 1; age >= 0; age -= 1) {
      out.push(this.counts[(((newest - age) % this.seconds) + this.seconds) % this.seconds] ?? 0);
    }
    return out;
  }
}

/** The SVG path of a sparkline for `values` in a `width` × `height` box (zero at the bottom). */
export function sparklinePath(values: readonly number[], width: number, height: number): string {
  if (values.length === 0) return "";
  const top = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values
    .map((value, index) => {
      const x = (index * step).toFixed(1);
      const y = (height - (value / top) * height).toFixed(1);
      return `${index === 0 ? "M" : "L"}${x},${y}`;
    })
    .join(" ");
}
