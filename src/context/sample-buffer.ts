import { numeric, type Point } from './stats.ts';
import type { Sample } from '../../nats/telemetry.schema.ts';

interface TagBuffer {
  /** Samples in source-time order from `head` on. */
  items: Sample[];
  head: number;
  /** The newest non-bad sample that left the buffer. */
  floor?: Sample;
}

/**
 * The recently applied samples of one unit, by tag, in source-time order, back to `horizon` (newest source time minus
 * `lateBufferMs`, or closer when the buffer is full). A frame that opens after its first samples were applied is
 * backfilled from here, a frame whose close raced the telemetry is cut back with it, and an out-of-order sample
 * finds its neighbours here. Not persisted: after a restart it starts empty and is complete from then on.
 */
export class UnitBuffer {
  /** Newest source time applied before this buffer started (after a restart): older samples are not in it. */
  since = -Infinity;
  horizon = -Infinity;
  maxTs = -Infinity;
  size = 0;
  readonly #tags = new Map<string, TagBuffer>();

  /** True when every applied sample at or after `ts` is (or was, before eviction) in this buffer. */
  covers(ts: number): boolean {
    return ts > this.since && ts >= this.horizon;
  }

  /** True when a sample at `ts` is kept (newer than the horizon). */
  keeps(ts: number): boolean {
    return ts >= this.horizon;
  }

  /** Adds an applied sample; `clampTs` bounds how far a wrong edge clock can push the horizon forward. */
  insert(s: Sample, clampTs: number): void {
    let tb = this.#tags.get(s.tag);
    if (!tb) this.#tags.set(s.tag, (tb = { items: [], head: 0 }));
    const items = tb.items;
    const last = items[items.length - 1];
    if (!last || s.ts >= last.ts || items.length === tb.head) items.push(s);
    else items.splice(upperBound(items, tb.head, s.ts), 0, s);
    this.size++;
    const ts = Math.min(s.ts, clampTs);
    if (ts > this.maxTs) this.maxTs = ts;
  }

  /** The in-frame numeric non-bad samples just before and after `ts` (for splicing an out-of-order sample). */
  neighbours(tag: string, ts: number, start: number, end: number | undefined): { prev?: Point; next?: Point } {
    const tb = this.#tags.get(tag);
    if (!tb) return {};
    const { items, head } = tb;
    const i = upperBound(items, head, ts);
    let prev: Point | undefined;
    for (let j = i - 1; j >= head && items[j]!.ts >= start; j--) {
      if (usable(items[j]!)) {
        prev = items[j];
        break;
      }
    }
    if (!prev && tb.floor && tb.floor.ts >= start && usable(tb.floor)) prev = tb.floor;
    let next: Point | undefined;
    for (let j = i; j < items.length && items[j]!.ts < (end ?? Infinity); j++) {
      if (usable(items[j]!)) {
        next = items[j];
        break;
      }
    }
    return { ...(prev ? { prev } : {}), ...(next ? { next } : {}) };
  }

  /** Buffered samples of a tag with `from <= ts < to`, in source-time order. */
  window(tag: string, from: number, to = Infinity): Sample[] {
    const tb = this.#tags.get(tag);
    if (!tb) return [];
    const { items, head } = tb;
    const out: Sample[] = [];
    for (let j = lowerBound(items, head, from); j < items.length && items[j]!.ts < to; j++) out.push(items[j]!);
    return out;
  }

  /** The newest non-bad sample of a tag that left the buffer. */
  floor(tag: string): Sample | undefined {
    return this.#tags.get(tag)?.floor;
  }

  /** Every tag with buffered samples. */
  tags(): IterableIterator<string> {
    return this.#tags.keys();
  }

  /** Moves the horizon to `maxTs - windowMs` (closer while over `cap`) and drops older samples through `onEvict`. */
  evict(windowMs: number, cap: number, onEvict: (s: Sample) => void): void {
    if (this.maxTs === -Infinity) return;
    this.horizon = Math.max(this.horizon, this.maxTs - windowMs);
    this.#drop(onEvict);
    while (this.size > cap) {
      this.horizon = this.maxTs - this.horizon < 2 ? this.maxTs + 1 : this.horizon + (this.maxTs - this.horizon) / 2;
      this.#drop(onEvict);
    }
  }

  /** Forgets everything (after a failed commit the buffered samples may not have been applied). */
  clear(since: number): void {
    this.since = since;
    this.#tags.clear();
    this.size = 0;
    this.maxTs = -Infinity;
    this.horizon = -Infinity;
  }

  #drop(onEvict: (s: Sample) => void): void {
    for (const tb of this.#tags.values()) {
      const { items } = tb;
      let j = tb.head;
      for (; j < items.length && items[j]!.ts < this.horizon; j++) {
        const s = items[j]!;
        onEvict(s);
        if (s.q !== 'bad') tb.floor = s;
      }
      this.size -= j - tb.head;
      tb.head = j;
      if (tb.head > 1024 && tb.head * 2 > items.length) {
        items.splice(0, tb.head);
        tb.head = 0;
      }
    }
  }
}

function usable(p: Point): boolean {
  return p.q !== 'bad' && numeric(p.v) !== undefined;
}

/** First index at or after `head` whose ts is greater than `ts`. */
function upperBound(items: Sample[], head: number, ts: number): number {
  let lo = head;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]!.ts <= ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index at or after `head` whose ts is at least `ts`. */
function lowerBound(items: Sample[], head: number, ts: number): number {
  let lo = head;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]!.ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
