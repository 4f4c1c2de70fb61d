import { describe, expect, it } from 'vitest';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { encodeId } from '../../nats/ids.ts';
import { Contextualiser, type Incoming } from '../../src/context/contextualiser.ts';
import type { Frame } from '../../src/context/frame-store.ts';
import { onContext, onPhaseEvent, type UnitCursor } from '../../src/context/frame-rules.ts';
import { addSeq, expireGaps, hasSeq, holes, reconcileGaps, type Range } from '../../src/context/ranges.ts';
import { emptyRecord } from '../../src/context/source-record.ts';
import { addSample, emptyStats, truncate, twa, view, type Point, type TagStats } from '../../src/context/stats.ts';
import type { Sample } from '../../nats/telemetry.schema.ts';

describe('applied ranges', () => {
  it('merges sequence numbers into sorted disjoint ranges, whatever the arrival order', () => {
    const r: Range[] = [];
    for (const s of [1, 2, 3, 7, 8, 5]) expect(addSeq(r, s)).toBe(true);
    expect(r).toEqual([[1, 3], [5, 5], [7, 8]]);
    addSeq(r, 4);
    expect(r).toEqual([[1, 5], [7, 8]]);
    addSeq(r, 6);
    expect(r).toEqual([[1, 8]]);
  });

  it('reports a sequence number applied before as already there', () => {
    const r: Range[] = [];
    for (const s of [10, 11, 12, 20]) addSeq(r, s);
    expect(addSeq(r, 11)).toBe(false);
    expect(addSeq(r, 20)).toBe(false);
    expect(hasSeq(r, 12)).toBe(true);
    expect(hasSeq(r, 13)).toBe(false);
    expect(hasSeq(r, 21)).toBe(false);
  });

  it('names the holes below the highest seq, including a missing start', () => {
    expect(holes([[3, 4], [7, 9]])).toEqual([[1, 2], [5, 6]]);
    expect(holes([[1, 9]])).toEqual([]);
  });
});

describe('gap bookkeeping', () => {
  it('keeps when a gap was detected while replayed messages fill it piece by piece', () => {
    const r: Range[] = [];
    for (const s of [1, 2, 10]) addSeq(r, s);
    let gaps = reconcileGaps('e1', r, [], 1000);
    expect(gaps).toEqual([{ epoch: 'e1', from: 3, to: 9, detectedAt: 1000, status: 'pending' }]);
    for (const s of [5, 6]) addSeq(r, s);
    gaps = reconcileGaps('e1', r, gaps, 2000);
    expect(gaps).toEqual([
      { epoch: 'e1', from: 3, to: 4, detectedAt: 1000, status: 'pending' },
      { epoch: 'e1', from: 7, to: 9, detectedAt: 1000, status: 'pending' },
    ]);
    for (const s of [3, 4, 7, 8, 9]) addSeq(r, s);
    expect(reconcileGaps('e1', r, gaps, 3000)).toEqual([]);
  });

  it('stays pending while the edge buffers, and becomes lost after the timeout once it does not', () => {
    const gaps = reconcileGaps('e1', [[1, 1], [5, 5]], [], 0);
    expect(expireGaps(gaps, 120_000, 60_000, true)).toBe(false);
    expect(gaps[0]!.status).toBe('pending');
    expect(expireGaps(gaps, 30_000, 60_000, false)).toBe(false);
    expect(expireGaps(gaps, 60_000, 60_000, false)).toBe(true);
    expect(gaps[0]!.status).toBe('lost');
  });

  it('keeps a lost gap lost when late messages fill part of it', () => {
    const r: Range[] = [[1, 1], [9, 9]];
    const lost = [{ epoch: 'e', from: 2, to: 8, detectedAt: 0, status: 'lost' as const }];
    addSeq(r, 5);
    expect(reconcileGaps('e', r, lost, 10).map((g) => [g.from, g.to, g.status])).toEqual([
      [2, 4, 'lost'],
      [6, 8, 'lost'],
    ]);
  });
});

function stats(points: [number, number | boolean | string, Sample['q']?][], sealed = false): TagStats {
  const s = emptyStats();
  for (const [ts, v, q] of points) addSample(s, v, q ?? 'good', ts, sealed);
  return s;
}

describe('tag statistics', () => {
  it('computes count, extremes, mean, first, last and the time-weighted average within a closed frame', () => {
    const s = stats([[0, 10], [10, 20], [30, 0]]);
    expect(view(s, 40)).toMatchObject({ count: 3, min: 0, max: 20, mean: 10, first: 10, last: 0, bad: 0 });
    // 10 for 10 ms, 20 for 20 ms, 0 for 10 ms (until the end) = 500 / 40
    expect(twa(s, 40)).toBeCloseTo(12.5);
    // still open: each value holds until the next sample, up to the newest one = 500 / 30
    expect(twa(s)).toBeCloseTo(500 / 30);
  });

  it('counts bad samples but keeps them out of every numeric statistic', () => {
    const s = stats([[0, 1], [5, 1000, 'bad'], [10, 3, 'uncertain']]);
    expect(view(s, 20)).toMatchObject({ count: 3, bad: 1, min: 1, max: 3, mean: 2, first: 1, last: 3 });
    expect(twa(s, 20)).toBeCloseTo((1 * 10 + 3 * 10) / 20);
  });

  it('treats booleans as 0/1 and strings as count, first and last only', () => {
    expect(view(stats([[0, true], [30, false]]), 40)).toMatchObject({ min: 0, max: 1, mean: 0.5, twa: 0.75 });
    const s = view(stats([[0, 'Idle'], [5, 'Running']]), 10);
    expect(s).toMatchObject({ count: 2, first: 'Idle', last: 'Running', min: null, mean: null, twa: null });
  });

  it('gives first and last by source time, not by arrival', () => {
    const s = stats([[20, 2], [10, 1], [30, 3], [5, 0.5]]);
    expect(view(s, 40)).toMatchObject({ first: 0.5, last: 3, firstAt: 5, lastAt: 30 });
  });

  it('splices an out-of-order sample into the integral using its neighbours', () => {
    const ordered = stats([[0, 10], [10, 20], [20, 30], [30, 40]]);
    const s = emptyStats();
    const arrived: Point[] = [];
    const push = (ts: number, v: number) => {
      const prev = [...arrived].filter((p) => p.ts <= ts).sort((a, b) => a.ts - b.ts).pop();
      const next = [...arrived].filter((p) => p.ts > ts).sort((a, b) => a.ts - b.ts)[0];
      addSample(s, v, 'good', ts, false, () => ({ prev, next }));
      arrived.push({ ts, v, q: 'good' });
    };
    push(0, 10);
    push(30, 40);
    push(20, 30);
    push(10, 20);
    expect(twa(s, 40)).toBeCloseTo(twa(ordered, 40)!);
    expect(view(s, 40)).toEqual(view(ordered, 40));
  });

  it('cuts the samples past a late-known end back out, as if they had never been counted', () => {
    const all: [number, number][] = [[0, 5], [10, 50], [20, 1], [30, 99], [40, 7]];
    const s = stats(all);
    const pts = all.map(([ts, v]) => ({ ts, v, q: 'good' as const }));
    truncate(s, 25, pts.filter((p) => p.ts >= 25), pts.filter((p) => p.ts < 25));
    const fresh = stats(all.filter(([ts]) => ts < 25));
    expect(view(s, 25)).toEqual(view(fresh, 25));
  });

  it('keeps sealed extremes when the samples before the end have left the buffer', () => {
    const s = stats([[0, -3], [10, 8]], true);
    addSample(s, 100, 'good', 30, false);
    truncate(s, 20, [{ ts: 30, v: 100, q: 'good' }], [], { ts: 10, v: 8, q: 'good' });
    expect(view(s, 20)).toMatchObject({ count: 2, min: -3, max: 8, last: 8 });
    expect(twa(s, 20)).toBeCloseTo((-3 * 10 + 8 * 10) / 20);
  });
});

describe('frame rules', () => {
  const ctx = (seq: number, at: number, extra: Record<string, unknown> = {}) => ({
    unit: 'R201', contextId: `c${seq}`, batchId: 'B1', seq, at, ...extra,
  });

  it('opens batch, unit procedure and operation frames and closes only the level that changes', () => {
    let cur: UnitCursor = { lastSeq: -1, lastStreamSeq: 0 };
    const a = onContext(cur, ctx(1, 100, { unitProcedure: 'UP1', operation: 'OP1' }), 'CONTEXT:1')!;
    expect(a.frames.map((f) => [f.kind, f.start, f.end])).toEqual([
      ['batch', 100, undefined],
      ['unitProcedure', 100, undefined],
      ['operation', 100, undefined],
    ]);
    cur = a.cursor;
    const b = onContext(cur, ctx(2, 200, { unitProcedure: 'UP1', operation: 'OP2' }), 'CONTEXT:2')!;
    expect(b.frames.map((f) => [f.kind, f.operation, f.start, f.end])).toEqual([
      ['operation', 'OP1', 100, 200],
      ['operation', 'OP2', 200, undefined],
    ]);
    const c = onContext(b.cursor, ctx(3, 300, { released: true }), 'CONTEXT:3')!;
    expect(c.frames.map((f) => [f.kind, f.end])).toEqual([
      ['operation', 300],
      ['unitProcedure', 300],
      ['batch', 300],
    ]);
    expect(onContext(c.cursor, ctx(3, 400), 'CONTEXT:4')).toBeUndefined(); // stale seq
  });

  it('opens a phase frame on Idle→Running and closes it on Complete; a republished event changes nothing', () => {
    const ev = (seq: number, from: string, to: string, at: number) => ({ actor: 'R201.HEAT', type: 'phase', from, to, at, seq });
    const open = onPhaseEvent({ lastStreamSeq: 0, lastEventSeq: -1 }, ev(5, 'Idle', 'Running', 1000), 'R201', 'B1', 'EVENTS:1')!;
    expect(open.frames[0]).toMatchObject({ id: 'phase:R201.HEAT:5', kind: 'phase', batchId: 'B1', start: 1000 });
    expect(onPhaseEvent(open.cursor, ev(5, 'Idle', 'Running', 1000), 'R201', 'B1', 'EVENTS:2')).toBeUndefined();
    const done = onPhaseEvent(open.cursor, ev(9, 'Running', 'Complete', 5000), 'R201', 'B1', 'EVENTS:3')!;
    expect(done.frames[0]).toMatchObject({ id: 'phase:R201.HEAT:5', start: 1000, end: 5000 });
    expect(done.cursor.open).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The contextualiser core, without NATS: one source `line2`, units R201 and PK301.

function plant(lateBufferMs = 60_000): PlantConfig {
  const timing = { publishIntervalMs: 500, heartbeatIntervalMs: 5000, gapLostAfterMs: 60_000 };
  const src = (id: string) => ({ id, kind: 'external' as const, description: '', ...timing });
  const unit = (id: string) => ({ id, name: id, class: 'x', level: 'Unit' as const, source: 'line2', cleanHoldHours: 1 });
  const tag = (t: string, u: string, dataType: 'number' | 'boolean' | 'string') => ({
    tag: t, unit: u, source: 'line2', engUnit: '', dataType, counter: false, collect: true, description: '',
  });
  return {
    sources: [src('line2'), src('sim')],
    units: [unit('R201'), unit('PK301')],
    phases: [
      { id: 'R201.FILL', unit: 'R201', execution: 'automatic', stateTag: 'R201.FILL.STATE', commandTag: 'R201.FILL.CMD' },
    ],
    tags: [tag('R201.TT01.PV', 'R201', 'number'), tag('R201.FILL.STATE', 'R201', 'string'), tag('PK301.RUN', 'PK301', 'boolean')],
    runtime: { ingest: { maxSamplesPerMessage: 100, maxMessageBytes: 65536, batchSize: 100, lateBufferMs } },
  } as unknown as PlantConfig;
}

function core(lateBufferMs?: number): Contextualiser {
  const c = new Contextualiser(plant(lateBufferMs));
  for (const src of ['line2', 'sim']) c.load(emptyRecord(src, 'created'), 0);
  c.reset();
  return c;
}

let streamSeq = 0;
function msg(seq: number, samples: [string, number | boolean | string, number][], extra: Record<string, unknown> = {}): Incoming {
  const list = samples.map(([tag, v, ts]) => ({ tag, v, q: 'good', ts }));
  const body = { src: 'line2', epoch: 'e1', seq, sent: 0, samples: list, ...extra };
  return { subject: `tlm.line2`, data: encode(body), streamSeq: ++streamSeq, receivedAt: 1_000 };
}

const frame = (id: string, kind: Frame['kind'], start: number, end?: number): Frame => ({
  id, kind, batchId: 'B1', unit: 'R201', start, ...(end !== undefined ? { end } : {}),
});

const tt = (c: Contextualiser, id: string) => c.states.get('line2')!.rec.frames[id]?.['R201.TT01.PV'];

describe('contextualiser core', () => {
  it('counts each sample once in every frame that encloses its source time', () => {
    const c = core();
    c.applyFrame(frame('batch', 'batch', 0));
    c.applyFrame(frame('op', 'operation', 100, 400));
    c.applyFrame(frame('ph', 'phase', 200, 300));
    c.process(msg(1, [50, 150, 250, 350, 450].map((ts, k): [string, number, number] => ['R201.TT01.PV', k + 1, ts])));
    expect(tt(c, 'batch')!.n).toBe(5);
    expect(tt(c, 'op')!.n).toBe(3);
    expect(tt(c, 'ph')!.n).toBe(1);
    expect(c.rejections).toEqual([]);
  });

  it('rejects a replayed (src, epoch, seq) as duplicate but skips a redelivered stream message silently', () => {
    const c = core();
    const first = msg(1, [['R201.TT01.PV', 1, 50]]);
    c.process(first);
    c.process({ ...first }); // same stream seq: a redelivery
    c.process(msg(1, [['R201.TT01.PV', 1, 50]])); // same (src, epoch, seq), new stream seq: a replay
    const st = c.states.get('line2')!;
    expect(st.counts).toMatchObject({ messages: 1, duplicates: 1, redelivered: 1 });
    expect(c.rejections.map((r) => r.reason)).toEqual(['duplicate']);
  });

  it('applies the known samples and dead-letters a copy holding only the unknown tags', () => {
    const c = core();
    c.process(msg(1, [['R201.TT01.PV', 1, 50], ['NOPE', 2, 50]]));
    expect(c.states.get('line2')!.rec.tags['R201.TT01.PV']!.v).toBe(1);
    expect(c.rejections).toHaveLength(1);
    expect(c.rejections[0]).toMatchObject({ reason: 'unknown_tag', dedupeId: expect.stringMatching(/^dlq:TELEMETRY:\d+$/) });
    expect((c.rejections[0]!.data as { samples: unknown[] }).samples).toEqual([{ tag: 'NOPE', v: 2, q: 'good', ts: 50 }]);
  });

  it('backfills a frame that becomes known after samples of its window were applied', () => {
    const c = core();
    c.process(msg(1, [['R201.TT01.PV', 1, 100], ['R201.TT01.PV', 2, 200], ['R201.TT01.PV', 3, 300]]));
    c.applyFrame(frame('ph', 'phase', 150));
    expect(view(tt(c, 'ph')!)).toMatchObject({ count: 2, first: 2, last: 3 });
  });

  it('cuts samples past the end back out when the close arrives after them', () => {
    const c = core();
    c.applyFrame(frame('ph', 'phase', 0));
    c.process(msg(1, [['R201.TT01.PV', 1, 100], ['R201.TT01.PV', 9, 200], ['R201.TT01.PV', 3, 300]]));
    c.applyFrame(frame('ph', 'phase', 0, 250));
    expect(view(tt(c, 'ph')!, 250)).toMatchObject({ count: 2, max: 9, last: 9 });
  });

  it('finalises a closed frame once the source is past its end, then counts older samples as late', () => {
    const c = core();
    c.applyFrame(frame('ph', 'phase', 0, 250));
    c.process(msg(1, [['R201.TT01.PV', 1, 100], ['R201.TT01.PV', 3, 300]]));
    c.housekeeping(2_000, () => false);
    const finals = c.finalisable(2_000);
    expect(finals.map((f) => [f.frame, f.end, f.tags['R201.TT01.PV']!.n])).toEqual([['ph', 250, 1]]);
    c.finalised(finals);
    c.process(msg(2, [['R201.TT01.PV', 2, 200]]));
    const rec = c.states.get('line2')!.rec;
    expect(rec.frames['ph']).toBeUndefined();
    expect(rec.late['ph']).toBe(1);
  });

  it('does not finalise while a gap of the source is pending', () => {
    const c = core();
    c.applyFrame(frame('ph', 'phase', 0, 250));
    c.process(msg(1, [['R201.TT01.PV', 1, 100]]));
    c.process(msg(3, [['R201.TT01.PV', 3, 300]]));
    c.housekeeping(2_000, () => true);
    expect(c.finalisable(2_000)).toEqual([]);
    c.process(msg(2, [['R201.TT01.PV', 2, 200]], { hist: true }));
    c.housekeeping(3_000, () => false);
    expect(c.finalisable(3_000).map((f) => f.tags['R201.TT01.PV']!.n)).toEqual([2]);
  });

  it('forwards a PLC state change of an automatic phase, and the first state seen since start', () => {
    const c = core();
    c.process(msg(1, [['R201.FILL.STATE', 'Idle', 10], ['R201.FILL.STATE', 'Idle', 20], ['R201.FILL.STATE', 'Running', 30]]));
    const inbox = `inbox.phase.${encodeId('R201.FILL')}`;
    expect(c.inputs.map((i) => [i.subject, i.msgId, i.envelope.event])).toEqual([
      [inbox, 'plc:line2:e1:1:R201.FILL.STATE', { type: 'PLC_STATE', at: 10, state: 'Idle', by: 'plc:line2' }],
      [inbox, 'plc:line2:e1:1:R201.FILL.STATE:1', { type: 'PLC_STATE', at: 30, state: 'Running', by: 'plc:line2' }],
    ]);
  });

  it('dead-letters malformed, invalid, oversized and foreign-source messages with their reasons', () => {
    const c = core();
    const base = { streamSeq: 0, receivedAt: 0 };
    c.process({ ...base, subject: 'tlm.line2', data: encode({ src: 'line2', epoch: 'e1' }).slice(0, 8), streamSeq: 901 });
    const invalid = { src: 'line2', epoch: 'e', seq: 0, sent: 0, samples: [{ tag: 'x', v: 1, q: 'meh', ts: 0 }] };
    c.process({ ...base, subject: 'tlm.line2', data: encode(invalid), streamSeq: 902 });
    c.process({ ...base, subject: 'tlm.line2', data: new Uint8Array(70_000), streamSeq: 903 });
    c.process({ ...base, subject: 'tlm.nowhere', data: encode({}), streamSeq: 904 });
    const foreign = { src: 'sim', epoch: 'e', seq: 1, sent: 0, samples: [] };
    c.process({ ...base, subject: 'tlm.line2', data: encode(foreign), streamSeq: 905 });
    expect(c.rejections.map((r) => r.reason)).toEqual(['malformed', 'invalid', 'oversized', 'unknown_source', 'unknown_source']);
    expect(c.rejections[1]!.detail).toMatch(/seq/);
    expect(c.rejections[1]!.detail).toMatch(/samples\.0\.q/);
  });
});
