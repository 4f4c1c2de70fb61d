/**
 * Per-source clock estimation from pairs (receipt time on the runtime clock, `sent` on the edge clock) of heartbeats
 * and live telemetry messages (DESIGN.md principle 8: two clocks, always). Every observed offset is the clocks'
 * true offset plus a non-negative transit delay, so the estimate follows the minimum-delay envelope: the window is
 * cut into segments, the smallest offset of each segment is kept, and a least-squares line through those minima
 * gives the offset now (intercept) and the drift (slope). Pure: no clock is read here.
 */

/** What the runtime currently believes about one source's clock. */
export interface ClockEstimate {
  /** Runtime clock minus edge clock (transit delay filtered out by the minimum envelope), ms, at the newest point. */
  offsetMs: number;
  /** Rate of change of the offset, parts per million (µs of offset per s). */
  driftPpm: number;
  /** |offsetMs| is beyond the configured tolerance. */
  skewed: boolean;
  /** Runtime time at which the current skew was first flagged (null when not skewed). */
  since: number | null;
  /** Observations in the window. */
  points: number;
  /** Runtime time of the newest observation. */
  at: number;
}

/** Settings of the estimator (config `runtime.clock`). */
export interface ClockSettings {
  skewToleranceMs: number;
  /** Observations kept (sliding window). */
  window: number;
}

export const DEFAULT_CLOCK: ClockSettings = { skewToleranceMs: 2000, window: 64 };

const SEGMENTS = 8;
/** Hot-path recomputation period of an estimate (runtime ms). */
const REFRESH_MS = 250;
/** Shortest span of observations over which a drift is fitted. */
const MIN_DRIFT_SPAN_MS = 10_000;

/** The sliding-window estimator of one source. */
export class ClockEstimator {
  readonly #t: Float64Array;
  readonly #o: Float64Array;
  readonly #tol: number;
  #n = 0;
  #head = 0; // index of the oldest point
  #since: number | null = null;
  #cached: ClockEstimate | undefined;

  constructor(settings: ClockSettings = DEFAULT_CLOCK) {
    const w = Math.max(4, Math.floor(settings.window));
    this.#t = new Float64Array(w);
    this.#o = new Float64Array(w);
    this.#tol = settings.skewToleranceMs;
  }

  /** Records one observation: `localMs` on the runtime clock when received, `remoteMs` the edge's `sent`. */
  observe(localMs: number, remoteMs: number): void {
    const cap = this.#t.length;
    const i = (this.#head + this.#n) % cap;
    this.#t[i] = localMs;
    this.#o[i] = localMs - remoteMs;
    if (this.#n < cap) this.#n++;
    else this.#head = (this.#head + 1) % cap;
  }

  /**
   * The current estimate (undefined before the first observation). On the ingest's hot path it is recomputed at
   * most every {@link REFRESH_MS} of runtime time once the window has some points; `fresh` forces it.
   */
  estimate(fresh = false): ClockEstimate | undefined {
    if (this.#n === 0) return undefined;
    const c = this.#cached;
    const latest = this.#point(this.#n - 1)[0];
    if (c && c.at === latest && c.points === this.#n) return c; // nothing new since
    if (c && !fresh && this.#n >= 2 * SEGMENTS && latest - c.at < REFRESH_MS) return c;
    let { offset, drift, at } = this.#fit();
    const stepped = this.#step(offset);
    if (stepped) ({ offset, drift, at } = stepped);
    const skewed = Math.abs(offset) > this.#tol;
    if (skewed && this.#since === null) this.#since = at;
    if (!skewed) this.#since = null;
    const r = (x: number, d: number) => Math.round(x * d) / d;
    this.#cached = { offsetMs: r(offset, 10), driftPpm: r(drift * 1e6, 10), skewed, since: this.#since, points: this.#n, at };
    return this.#cached;
  }

  #point(k: number): [number, number] {
    const i = (this.#head + k) % this.#t.length;
    return [this.#t[i]!, this.#o[i]!];
  }

  /** Minimum offset of each of up to SEGMENTS equal slices of points [from, n). */
  #minima(from: number): [number, number][] {
    const n = this.#n - from;
    const segs = Math.min(SEGMENTS, n);
    const out: [number, number][] = [];
    for (let s = 0; s < segs; s++) {
      const lo = from + Math.floor((s * n) / segs);
      const hi = from + Math.floor(((s + 1) * n) / segs);
      let best: [number, number] | undefined;
      for (let k = lo; k < hi; k++) {
        const p = this.#point(k);
        if (!best || p[1] < best[1]) best = p;
      }
      if (best) out.push(best);
    }
    return out;
  }

  /** Least squares through the segment minima, evaluated at the newest point. */
  #fit(from = 0): { offset: number; drift: number; at: number } {
    const at = this.#point(this.#n - 1)[0];
    const m = this.#minima(from);
    // over a short span a slope means nothing (and extrapolates wildly): the minimum delay alone
    const span = m.length > 1 ? m[m.length - 1]![0] - m[0]![0] : 0;
    const line = span >= MIN_DRIFT_SPAN_MS ? leastSquares(m) : undefined;
    if (!line) return { offset: Math.min(...m.map((p) => p[1])), drift: 0, at };
    return { offset: line.a + line.b * (at - line.t0), drift: line.b, at };
  }

  /**
   * A step (the edge clock was set, or the path changed): the newest segment's minimum lies beyond half the
   * tolerance from the line through the older ones. The older points are then dropped and the estimate restarts
   * from the newest segment alone (drift unknown until it has grown again).
   */
  #step(fitted: number): { offset: number; drift: number; at: number } | undefined {
    if (this.#n < 2 * SEGMENTS) return undefined;
    const lastFrom = this.#n - Math.floor(this.#n / SEGMENTS);
    const recent = this.#minima(lastFrom);
    const recentMin = Math.min(...recent.map((p) => p[1]));
    if (Math.abs(recentMin - fitted) <= this.#tol / 2) return undefined;
    const olderMinima = this.#minima(0).slice(0, -1);
    const olderSpan = olderMinima.length > 1 ? olderMinima[olderMinima.length - 1]![0] - olderMinima[0]![0] : 0;
    const older = olderSpan >= MIN_DRIFT_SPAN_MS ? leastSquares(olderMinima) : undefined;
    const at = this.#point(this.#n - 1)[0];
    const predicted = older ? older.a + older.b * (at - older.t0) : fitted;
    if (Math.abs(recentMin - predicted) <= this.#tol / 2) return undefined;
    // keep only the newest segment
    const keep = this.#n - lastFrom;
    this.#head = (this.#head + lastFrom) % this.#t.length;
    this.#n = keep;
    return { offset: recentMin, drift: 0, at };
  }
}

function leastSquares(pts: [number, number][]): { a: number; b: number; t0: number } | undefined {
  if (pts.length < 2) return undefined;
  const t0 = pts[0]![0];
  let st = 0;
  let so = 0;
  for (const [t, o] of pts) {
    st += t - t0;
    so += o;
  }
  const mt = st / pts.length;
  const mo = so / pts.length;
  let num = 0;
  let den = 0;
  for (const [t, o] of pts) {
    num += (t - t0 - mt) * (o - mo);
    den += (t - t0 - mt) ** 2;
  }
  if (den === 0) return undefined;
  const b = num / den;
  return { a: mo - b * mt, b, t0 };
}

/** One estimator per source, shared by the heartbeat listener and the ingest (same event loop). */
export class ClockBook {
  readonly #by = new Map<string, ClockEstimator>();
  readonly settings: ClockSettings;

  constructor(settings: Partial<ClockSettings> = {}) {
    this.settings = { ...DEFAULT_CLOCK, ...settings };
  }

  observe(src: string, localMs: number, remoteMs: number): void {
    let e = this.#by.get(src);
    if (!e) this.#by.set(src, (e = new ClockEstimator(this.settings)));
    e.observe(localMs, remoteMs);
  }

  /** The estimate of a source; `fresh` recomputes it from every observation (for `/sources` and `/metrics`). */
  get(src: string, fresh = false): ClockEstimate | undefined {
    return this.#by.get(src)?.estimate(fresh);
  }

  sources(): string[] {
    return [...this.#by.keys()];
  }
}
