import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { TagDef } from '../../config/plant.schema.ts';
import { TagSchema } from '../../config/plant.schema.ts';
import { dictionaryVersion, LineageCollector, linear, lineageKeys, SEQ_BUCKET } from '../../src/context/lineage.ts';

describe('lineage helpers', () => {
  it('maps a raw range linearly onto the engineering range, and applies factor and offset', () => {
    const r = linear({ rawLo: 4, rawHi: 20, engLo: 0, engHi: 160 })!;
    expect(r.k * 4 + r.c).toBeCloseTo(0);
    expect(r.k * 12 + r.c).toBeCloseTo(80);
    expect(linear({ factor: 0.001, offset: 0 })).toEqual({ k: 0.001, c: 0 });
    expect(linear(undefined)).toBeUndefined();
  });

  it('rejects a scale whose raw range is empty', () => {
    const tag = { tag: 'X', unit: 'U', source: 'S', engUnit: 'bar', dataType: 'number' };
    expect(TagSchema.safeParse({ ...tag, scale: { rawLo: 1, rawHi: 1, engLo: 0, engHi: 1 } }).success).toBe(false);
    expect(TagSchema.safeParse({ ...tag, scale: { factor: 2 }, rawUnit: 'mbar' }).success).toBe(true);
  });

  it('versions the tag dictionary by its mapping fields only', () => {
    const tags = loadConfig('config').tags;
    const v = dictionaryVersion(tags).version;
    expect(v).toMatch(/^sha256:[0-9a-f]{64}$/);
    const described = tags.map((t) => ({ ...t, description: 'changed' })) as TagDef[];
    expect(dictionaryVersion(described).version).toBe(v);
    const rescaled = tags.map((t, i) => (i === 0 ? { ...t, scale: { factor: 2, offset: 0 } } : t)) as TagDef[];
    expect(dictionaryVersion(rescaled).version).not.toBe(v);
  });

  it('groups a cycle into one block per source, epoch and seq bucket', () => {
    const c = new LineageCollector('sha256:d', 'sha256:c');
    const m = (seq: number) => ({ seq, streamSeq: seq, sent: 0, receivedAt: 0, n: 1, tsMin: 0, tsMax: 0 });
    for (const seq of [1, 2, SEQ_BUCKET + 1]) c.add('a.b', 'e', m(seq));
    c.add('a.b', 'f', m(3));
    const blocks = c.take();
    expect(blocks.map((b) => [b.epoch, b.msgs.map((x) => x.seq)])).toEqual([['e', [1, 2]], ['e', [SEQ_BUCKET + 1]], ['f', [3]]]);
    expect(c.take()).toEqual([]);
    expect(lineageKeys.block('a.b', 'e', 1)).toBe('msg.a=2Eb.e.0.1');
  });
});
