import { describe, expect, it } from 'vitest';
import type { TagDef } from '../../config/plant.schema.ts';
import { decodePayload, encodePayload } from '../../src/edge/sparkplug/codec.ts';
import { EdgeNode, type Inbound } from '../../src/edge/sparkplug/edge-node.ts';
import { metricKey, qualityOf, type EdgeSample } from '../../src/edge/sparkplug/samples.ts';
import { SeqTracker, type SeqAction } from '../../src/edge/sparkplug/seq-tracker.ts';
import { parseTopic } from '../../src/edge/sparkplug/topics.ts';
import { SparkplugPayloadError } from '../../src/errors.ts';

type M = { seq?: number; id: string };
const msg = (seq: number, id = `m${seq}`): M => ({ seq, id });
const summary = (as: SeqAction<M>[]) =>
  as.map((a) => (a.kind === 'deliver' ? `deliver ${a.msg.id}` : a.kind === 'reject' ? `reject ${a.msg.id} ${a.reason}` : a.kind === 'gap' ? `gap ${a.from}-${a.to}` : `rebirth ${a.reason}`));

describe('Sparkplug seq tracking (in-memory clock)', () => {
  const born = (rebirthBackoffMs?: number) => {
    const t = new SeqTracker<M>({ reorderTimeoutMs: 1000, ...(rebirthBackoffMs ? { rebirthBackoffMs } : {}) });
    t.birth(msg(0, 'nbirth'));
    return t;
  };

  it('delivers in-order messages and wraps from 255 to 0', () => {
    const t = born();
    const out: string[] = [];
    let now = 0;
    for (let i = 1; i <= 300; i++) out.push(...summary(t.message(msg(i % 256, `m${i}`), now++)));
    expect(out).toHaveLength(300);
    expect(out.at(-1)).toBe('deliver m300');
    expect(out.every((s) => s.startsWith('deliver'))).toBe(true);
  });

  it('holds an out-of-order message and reorders it when the missing one arrives within the timeout', () => {
    const t = born();
    expect(summary(t.message(msg(2), 0))).toEqual([]);
    expect(t.held).toBe(1);
    expect(t.deadline()).toBe(1000);
    expect(summary(t.tick(999))).toEqual([]);
    expect(summary(t.message(msg(1), 500))).toEqual(['deliver m1', 'deliver m2']);
    expect(t.deadline()).toBeUndefined();
  });

  it('after the reorder timeout delivers what was held, counts the gap and requests a rebirth once', () => {
    const t = born(5000);
    t.message(msg(3), 0);
    t.message(msg(4), 10);
    expect(summary(t.tick(1000))).toEqual(['gap 1-2', 'deliver m3', 'deliver m4', 'rebirth seq_gap']);
    expect(summary(t.message(msg(5), 1001))).toEqual(['deliver m5']);
    t.message(msg(7), 1002);
    expect(summary(t.tick(2100))).toEqual(['gap 6-6', 'deliver m7']); // rebirth within the backoff is not repeated
  });

  it('rejects late, duplicate and invalid seq numbers with a reason', () => {
    const t = born();
    t.message(msg(1), 0);
    expect(summary(t.message(msg(1, 'again'), 1))).toEqual(['reject again late_seq']);
    t.message(msg(5), 2);
    expect(summary(t.message(msg(5, 'dup'), 3))).toEqual(['reject dup duplicate_seq']);
    expect(summary(t.message({ id: 'none' }, 4))).toEqual(['reject none invalid_seq']);
    expect(summary(t.message(msg(300, 'big'), 5))).toEqual(['reject big invalid_seq']);
  });

  it('rejects data before a birth and asks for a rebirth', () => {
    const t = new SeqTracker<M>({ reorderTimeoutMs: 1000 });
    expect(summary(t.message(msg(4), 0))).toEqual(['reject m4 before_birth', 'rebirth before_birth']);
  });

  it('a new NBIRTH supersedes what was held; a death delivers what was held', () => {
    const t = born();
    t.message(msg(3), 0);
    expect(summary(t.birth(msg(0, 'nbirth2')))).toEqual(['reject m3 superseded', 'deliver nbirth2']);
    t.message(msg(2), 0);
    expect(summary(t.death())).toEqual(['gap 1-1', 'deliver m2']);
    expect(t.born).toBe(false);
  });
});

describe('Sparkplug edge node state', () => {
  const TT: TagDef = { tag: 'R201.TT01.PV', unit: 'R201', source: 'line2', engUnit: '°C', dataType: 'number', counter: false, collect: true, description: '' };
  const tags = new Map([[metricKey('line2', 'edge1', 'R201', 'TT01/PV'), TT]]);
  function harness() {
    const emitted: EdgeSample[] = [];
    const rejected: string[] = [];
    const rebirths: string[] = [];
    const node = new EdgeNode('line2', 'edge1', tags, 1000, {
      emit: (s) => emitted.push(...s),
      reject: (_m, reason) => rejected.push(reason),
      rebirth: (_n, reason) => rebirths.push(reason),
      count: () => undefined,
    });
    const send = (type: string, device: string | undefined, p: Parameters<typeof encodePayload>[0], now = 0) => {
      const topic = `spBv1.0/line2/${type}/edge1${device ? `/${device}` : ''}`;
      const data = encodePayload(p);
      const payload = decodePayload(data);
      const m: Inbound = { topic, t: parseTopic(topic)!, data, payload, receivedAt: now, ...(payload.seq !== undefined ? { seq: payload.seq } : {}) };
      node.receive(m, now);
    };
    return { node, emitted, rejected, rebirths, send };
  }
  const births = (h: ReturnType<typeof harness>, bdSeq = 3) => {
    h.send('NBIRTH', undefined, { seq: 0, timestamp: 1, metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq }] });
    h.send('DBIRTH', 'R201', { seq: 1, timestamp: 1, metrics: [{ name: 'TT01/PV', alias: 7, type: 'Double', value: 20, timestamp: 5 }] });
  };

  it('maps aliases to tags, takes metric timestamps as source time and quality from the Quality property', () => {
    const h = harness();
    births(h);
    h.send('DDATA', 'R201', { seq: 2, timestamp: 100, metrics: [{ alias: 7, type: 'Double', value: 21, timestamp: 50, properties: { Quality: { type: 'Int32', value: 64 } } }] });
    h.send('DDATA', 'R201', { seq: 3, timestamp: 200, metrics: [{ alias: 7, type: 'Double', value: 22 }] });
    expect(h.emitted).toEqual([
      { tag: 'R201.TT01.PV', v: 20, q: 'good', ts: 5 },
      { tag: 'R201.TT01.PV', v: 21, q: 'uncertain', ts: 50 },
      { tag: 'R201.TT01.PV', v: 22, q: 'good', ts: 200 },
    ]);
  });

  it('marks the last values bad on NDEATH with the matching bdSeq and ignores a stale NDEATH', () => {
    const h = harness();
    births(h, 3);
    h.send('NDEATH', undefined, { metrics: [{ name: 'bdSeq', type: 'UInt64', value: 2 }] }, 10);
    expect(h.rejected).toEqual(['stale_death']);
    expect(h.node.online).toBe(true);
    h.send('NDEATH', undefined, { metrics: [{ name: 'bdSeq', type: 'UInt64', value: 3 }] }, 20);
    expect(h.node.online).toBe(false);
    expect(h.emitted.at(-1)).toEqual({ tag: 'R201.TT01.PV', v: 20, q: 'bad', ts: 20 });
  });

  it('dead-letters an unknown alias and DDATA of an unborn device, and asks for a rebirth', () => {
    const h = harness();
    births(h);
    h.send('DDATA', 'R201', { seq: 2, metrics: [{ alias: 99, type: 'Double', value: 1 }] });
    h.send('DDATA', 'R202', { seq: 3, metrics: [{ alias: 7, type: 'Double', value: 1 }] });
    expect(h.rejected).toEqual(['unknown_alias', 'before_birth']);
    expect(h.rebirths).toEqual(['unknown_alias', 'before_birth']);
  });

  it('keeps is_historical on the sample and makes a null value a bad sample with the last value', () => {
    const h = harness();
    births(h);
    h.send('DDATA', 'R201', { seq: 2, metrics: [{ alias: 7, type: 'Double', value: 18, timestamp: 3, isHistorical: true }] });
    h.send('DDATA', 'R201', { seq: 3, metrics: [{ alias: 7, type: 'Double', value: null, timestamp: 9 }] });
    expect(h.emitted.slice(1)).toEqual([
      { tag: 'R201.TT01.PV', v: 18, q: 'good', ts: 3, hist: true },
      { tag: 'R201.TT01.PV', v: 20, q: 'bad', ts: 9 },
    ]);
  });

  it('rejects malformed bytes with a SparkplugPayloadError (reason malformed)', () => {
    expect(() => decodePayload(new Uint8Array([1, 2, 3, 4, 5]))).toThrow(SparkplugPayloadError);
    expect(qualityOf({ datatype: 'Double', value: 1, historical: false, transient: false, quality: 'Bad' })).toBe('bad');
  });
});
