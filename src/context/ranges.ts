/**
 * Applied sequence numbers as sorted, disjoint, non-adjacent `[lo, hi]` intervals, and the gaps between them.
 * Not a high-water mark: replayed backlog interleaves with live data (CONTRACT.md §5.1), so holes are filled later.
 */
export type Range = [number, number];

/** A hole below the highest applied seq of one epoch; `lost` once the source can no longer fill it. */
export interface Gap {
  epoch: string;
  from: number;
  to: number;
  detectedAt: number;
  status: 'pending' | 'lost';
}

/** Index of the first range whose `lo` is greater than `seq`. */
function upperBound(ranges: Range[], seq: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]![0] <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when `seq` is in one of the ranges. */
export function hasSeq(ranges: Range[], seq: number): boolean {
  const last = ranges[ranges.length - 1];
  if (!last || seq > last[1]) return false;
  const i = upperBound(ranges, seq);
  return i > 0 && seq <= ranges[i - 1]![1];
}

/** Adds `seq`, merging neighbours; false when it was already there. O(1) for the live tail, O(log n) otherwise. */
export function addSeq(ranges: Range[], seq: number): boolean {
  const last = ranges[ranges.length - 1];
  if (!last || seq > last[1] + 1) {
    ranges.push([seq, seq]);
    return true;
  }
  if (seq === last[1] + 1) {
    last[1] = seq;
    return true;
  }
  const i = upperBound(ranges, seq);
  const prev = ranges[i - 1];
  const next = ranges[i];
  if (prev && seq <= prev[1]) return false;
  const joinsPrev = prev !== undefined && prev[1] + 1 === seq;
  const joinsNext = next !== undefined && next[0] - 1 === seq;
  if (joinsPrev && joinsNext) {
    prev[1] = next[1];
    ranges.splice(i, 1);
  } else if (joinsPrev) prev[1] = seq;
  else if (joinsNext) next[0] = seq;
  else ranges.splice(i, 0, [seq, seq]);
  return true;
}

/** The highest applied seq (0 when none). */
export function highest(ranges: Range[]): number {
  return ranges[ranges.length - 1]?.[1] ?? 0;
}

/** Missing seqs below the highest one, including a leading hole when seq 1 never arrived. */
export function holes(ranges: Range[]): Range[] {
  const out: Range[] = [];
  let next = 1;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  return out;
}

/**
 * Recomputes an epoch's gaps from its ranges. Holes only shrink or split as seqs arrive, so each hole inherits the
 * `detectedAt` and `status` of the gap it came from; a hole seen for the first time is pending since `now`.
 */
export function reconcileGaps(epoch: string, ranges: Range[], old: readonly Gap[], now: number): Gap[] {
  const out: Gap[] = [];
  let j = 0;
  for (const [from, to] of holes(ranges)) {
    while (j < old.length && old[j]!.to < from) j++;
    const parent = j < old.length && old[j]!.from <= to ? old[j] : undefined;
    out.push({ epoch, from, to, detectedAt: parent?.detectedAt ?? now, status: parent?.status ?? 'pending' });
  }
  return out;
}

/**
 * Declares pending gaps lost once `lostAfterMs` has passed since detection and the source reports nothing buffered
 * (a store-and-forward buffer may still hold the missing messages). Returns true when a status changed.
 */
export function expireGaps(gaps: Gap[], now: number, lostAfterMs: number, buffering: boolean): boolean {
  if (buffering) return false;
  let changed = false;
  for (const g of gaps) {
    if (g.status === 'pending' && now - g.detectedAt >= lostAfterMs) {
      g.status = 'lost';
      changed = true;
    }
  }
  return changed;
}

/** Number of missing messages in gaps of one status. */
export function missing(gaps: readonly Gap[], status: Gap['status']): number {
  let n = 0;
  for (const g of gaps) if (g.status === status) n += g.to - g.from + 1;
  return n;
}
