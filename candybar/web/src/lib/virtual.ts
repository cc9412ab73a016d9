// Which rows of a long list of equal-height rows to render: only those in view, plus a margin.

export interface Window {
  start: number;
  /** Exclusive. */
  end: number;
  /** Pixels above the first rendered row. */
  offset: number;
  /** Pixels of the whole list. */
  total: number;
}

export function visibleWindow(options: {
  count: number;
  rowHeight: number;
  scrollTop: number;
  viewportHeight: number;
  overscan?: number;
}): Window {
  const { count, rowHeight, viewportHeight } = options;
  const overscan = options.overscan ?? 8;
  const total = count * rowHeight;
  const scrollTop = Math.max(0, Math.min(options.scrollTop, Math.max(0, total - viewportHeight)));
  const first = Math.floor(scrollTop / rowHeight);
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + Math.ceil(viewportHeight / rowHeight) + overscan);
  return { start, end, offset: start * rowHeight, total };
}
