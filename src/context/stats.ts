import type { Quality, SampleValue } from '../../nats/telemetry.schema.ts';

/**
 * Running aggregate of one tag within one event frame, as persisted (compact keys: it lives in the source record).
 * Bad samples count in `n` and `bad` only; numbers and booleans (as 0/1) feed the numeric statistics; strings only
 * `n`, first and last. `area` is the integral of the value over source time from `t0` to `t1`, each value holding
 * until the next sample, so the time-weighted average needs only the frame end.
 */
export interface TagStats {
  n: number;
  bad: number;
  /** First and last non-bad value and their source timestamps. */
  f?: SampleValue;
  fTs?: number;
  l?: SampleValue;
  lTs?: number;
  /** Numeric (non-bad) samples, their sum and extremes. */
  k: number;
  sum: number;
  min?: number;
  max?: number;
  t0?: number;
  t1?: number;
  v1?: number;
  area: number;
  /** Extremes of the samples that are no longer in the recent-sample buffer (needed to cut a frame's tail). */
  smin?: number;
  smax?: number;
}

/** A sample as the buffer keeps it. */
export interface Point {
  ts: number;
  v: SampleValue;
  q: Quality;
}

/** The in-frame neighbours of an out-of-order numeric sample: the previous and next numeric non-bad samples. */
export type Neighbours = () => { prev?: Point | undefined; next?: Point | undefined };

/** The tag statistics as the API shows them (CONTRACT.md §2 `GET /frames`). */
export interface TagView {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  twa: number | null;
  first: SampleValue | null;
  last: SampleValue | null;
  bad: number;
  firstAt: number | null;
  lastAt: number | null;
}

/** Statistics of a tag with no sample yet in the frame. */
export function emptyStats(): TagStats {
  return { n: 0, bad: 0, k: 0, sum: 0, area: 0 };
}

/** Numeric view of a value: numbers as they are, booleans as 0/1, strings not at all. */
export function numeric(v: SampleValue): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined;
}

/**
 * Adds one sample. In source-time order this is O(1); a numeric sample older than the newest one is spliced into the
 * integral using its neighbours (asked for only then). `sealed` marks a sample that is not kept in the buffer.
 */
export function addSample(s: TagStats, v: SampleValue, q: Quality, ts: number, sealed: boolean, nb?: Neighbours): void {
  s.n++;
  if (q === 'bad') {
    s.bad++;
    return;
  }
  if (s.fTs === undefined || ts < s.fTs) {
    s.f = v;
    s.fTs = ts;
  }
  if (s.lTs === undefined || ts >= s.lTs) {
    s.l = v;
    s.lTs = ts;
  }
  const x = numeric(v);
  if (x === undefined) return;
  s.k++;
  s.sum += x;
  if (s.min === undefined || x < s.min) s.min = x;
  if (s.max === undefined || x > s.max) s.max = x;
  if (sealed) seal(s, x);
  if (s.t1 === undefined || s.t0 === undefined || s.v1 === undefined) {
    s.t0 = s.t1 = ts;
    s.v1 = x;
  } else if (ts >= s.t1) {
    s.area += s.v1 * (ts - s.t1);
    s.t1 = ts;
    s.v1 = x;
  } else if (ts < s.t0) {
    s.area += x * (s.t0 - ts);
    s.t0 = ts;
  } else {
    const { prev, next } = nb?.() ?? {};
    // Without both neighbours (older than the buffer) the integral is left as it was: a documented approximation.
    if (prev && next) s.area += (x - (numeric(prev.v) ?? 0)) * (next.ts - ts);
  }
}

/** Folds a numeric value into the sealed extremes (the sample left the buffer or never entered it). */
export function seal(s: TagStats, x: number): void {
  if (s.smin === undefined || x < s.smin) s.smin = x;
  if (s.smax === undefined || x > s.smax) s.smax = x;
}

/** After a restart the buffer is empty, so everything counted so far is sealed. */
export function sealAll(s: TagStats): void {
  s.smin = s.min;
  s.smax = s.max;
}

/**
 * Removes the samples at or after a frame's end that were counted while its end was unknown (the close event raced
 * the telemetry). `removed` and `kept` are the frame's buffered samples from `end` on and before it, in source-time
 * order; `floor` is the last non-bad sample that left the buffer, when it lies in the frame. Exact as long as every
 * removed sample is still buffered.
 */
export function truncate(s: TagStats, end: number, removed: Point[], kept: Point[], floor?: Point): void {
  const gone: Point[] = [];
  let nonBad = 0;
  let hitsMin = false;
  let hitsMax = false;
  for (const r of removed) {
    s.n--;
    if (r.q === 'bad') {
      s.bad--;
      continue;
    }
    nonBad++;
    const x = numeric(r.v);
    if (x === undefined) continue;
    s.k--;
    s.sum -= x;
    gone.push(r);
    if (s.min !== undefined && x <= s.min) hitsMin = true;
    if (s.max !== undefined && x >= s.max) hitsMax = true;
  }
  if (nonBad > 0) cutFirstLast(s, end, lastWhere(kept, (p) => p.q !== 'bad') ?? floor);
  if (gone.length === 0) return;
  if (s.k <= 0) return clearNumeric(s);
  const prev = lastWhere(kept, (p) => p.q !== 'bad' && numeric(p.v) !== undefined) ?? floorIfNumeric(floor);
  if (prev) {
    let a = prev;
    for (const b of gone) {
      s.area -= numeric(a.v)! * (b.ts - a.ts);
      a = b;
    }
    s.t1 = prev.ts;
    s.v1 = numeric(prev.v)!;
  }
  if (hitsMin || hitsMax) recomputeExtremes(s, kept, hitsMin, hitsMax);
}

function cutFirstLast(s: TagStats, end: number, last: Point | undefined): void {
  if (last) {
    s.l = last.v;
    s.lTs = last.ts;
  } else if (s.fTs !== undefined && s.fTs >= end) {
    for (const key of ['f', 'fTs', 'l', 'lTs'] as const) delete s[key];
  }
}

function clearNumeric(s: TagStats): void {
  s.k = 0;
  s.sum = 0;
  s.area = 0;
  for (const key of ['min', 'max', 't0', 't1', 'v1', 'smin', 'smax'] as const) delete s[key];
}

function recomputeExtremes(s: TagStats, kept: Point[], hitsMin: boolean, hitsMax: boolean): void {
  let lo = s.smin;
  let hi = s.smax;
  for (const p of kept) {
    const x = p.q === 'bad' ? undefined : numeric(p.v);
    if (x === undefined) continue;
    if (lo === undefined || x < lo) lo = x;
    if (hi === undefined || x > hi) hi = x;
  }
  if (hitsMin && lo !== undefined) s.min = lo;
  if (hitsMax && hi !== undefined) s.max = hi;
}

function lastWhere(points: Point[], ok: (p: Point) => boolean): Point | undefined {
  for (let i = points.length - 1; i >= 0; i--) if (ok(points[i]!)) return points[i];
  return undefined;
}

function floorIfNumeric(p: Point | undefined): Point | undefined {
  return p && p.q !== 'bad' && numeric(p.v) !== undefined ? p : undefined;
}

/** Time-weighted average: the last value holds until the frame's end, or until the newest sample while it is open. */
export function twa(s: TagStats, end?: number): number | null {
  if (s.k === 0 || s.t0 === undefined || s.t1 === undefined || s.v1 === undefined) return null;
  const stop = end === undefined ? s.t1 : Math.max(end, s.t1);
  const duration = stop - s.t0;
  if (duration <= 0) return s.sum / s.k;
  return (s.area + s.v1 * (stop - s.t1)) / duration;
}

/** The public view of a tag's statistics within a frame. */
export function view(s: TagStats, end?: number): TagView {
  return {
    count: s.n,
    min: s.min ?? null,
    max: s.max ?? null,
    mean: s.k > 0 ? s.sum / s.k : null,
    twa: twa(s, end),
    first: s.f ?? null,
    last: s.l ?? null,
    bad: s.bad,
    firstAt: s.fTs ?? null,
    lastAt: s.lTs ?? null,
  };
}
