import { describe, expect, it } from 'vitest';
import { ClockBook, ClockEstimator } from '../../src/context/clock.ts';

/** A deterministic PRNG (mulberry32): the same jitter on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const T0 = 1_700_000_000_000;

/**
 * Feeds observations every `stepMs` of runtime time: the edge clock is `offset(t)` behind, and each message takes a
 * random transit delay (mostly small, now and then a long queueing delay) — receipt minus sent = offset + delay.
 */
function feed(e: ClockEstimator, n: number, stepMs: number, offset: (t: number) => number, jitter: () => number, from = 0) {
  for (let i = from; i < from + n; i++) {
    const local = T0 + i * stepMs;
    e.observe(local, local - offset(local - T0) - jitter());
  }
}

describe('clock estimator (minimum-delay envelope)', () => {
  it('estimates a constant offset within a few ms despite network jitter, and does not flag it within tolerance', () => {
    const r = rng(1);
    const e = new ClockEstimator({ skewToleranceMs: 2000, window: 64 });
    feed(e, 200, 1000, () => 350, () => r() * 40 + (r() < 0.1 ? r() * 2000 : 0));
    const est = e.estimate()!;
    expect(est.offsetMs).toBeGreaterThanOrEqual(350);
    expect(est.offsetMs).toBeLessThan(360);
    expect(Math.abs(est.driftPpm)).toBeLessThan(100);
    expect(est).toMatchObject({ skewed: false, since: null, points: 64 });
  });

  it('estimates a known drift of 200 ppm within 20 ppm from jittered observations', () => {
    const r = rng(2);
    const e = new ClockEstimator({ skewToleranceMs: 2000, window: 256 });
    // 200 ppm: the offset grows by 0.2 ms per second of runtime
    feed(e, 1200, 5000, (t) => 100 + t * 200e-6, () => r() * 20 + (r() < 0.05 ? 500 : 0));
    const est = e.estimate()!;
    expect(est.driftPpm).toBeGreaterThan(180);
    expect(est.driftPpm).toBeLessThan(220);
    const trueNow = 100 + 1199 * 5000 * 200e-6;
    expect(Math.abs(est.offsetMs - trueNow)).toBeLessThan(10);
  });

  it('flags a step change of the edge clock beyond tolerance, with the time it was first seen', () => {
    const r = rng(3);
    const e = new ClockEstimator({ skewToleranceMs: 2000, window: 64 });
    feed(e, 100, 1000, () => 20, () => r() * 30);
    expect(e.estimate()!.skewed).toBe(false);
    // the edge clock is set back by 8 s: receipt minus sent jumps by +8 s
    feed(e, 40, 1000, () => 8020, () => r() * 30, 100);
    const est = e.estimate()!;
    expect(est.skewed).toBe(true);
    expect(est.offsetMs).toBeGreaterThan(8000);
    expect(est.offsetMs).toBeLessThan(8060);
    expect(est.since).not.toBeNull();
    expect(est.since!).toBeGreaterThan(T0 + 100 * 1000);
    // a clock set forward (negative offset) is flagged too, and clears once the clock is corrected
    feed(e, 40, 1000, () => -5000, () => r() * 30, 140);
    expect(e.estimate()).toMatchObject({ skewed: true });
    expect(e.estimate()!.offsetMs).toBeLessThan(-4900);
    feed(e, 64, 1000, () => 10, () => r() * 30, 180);
    expect(e.estimate()).toMatchObject({ skewed: false, since: null });
  });

  it('keeps one estimator per source', () => {
    const book = new ClockBook({ skewToleranceMs: 1000, window: 16 });
    for (let i = 0; i < 20; i++) {
      book.observe('a', T0 + i * 1000, T0 + i * 1000 - 5);
      book.observe('b', T0 + i * 1000, T0 + i * 1000 - 3000);
    }
    expect(book.get('a')).toMatchObject({ skewed: false });
    expect(book.get('b')).toMatchObject({ skewed: true });
    expect(book.get('b')!.offsetMs).toBeCloseTo(3000, 0);
    expect(book.get('c')).toBeUndefined();
  });
});
