import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPLAYED, replay, type ReplayFixture } from '../helpers/replay.ts';

const DIR = fileURLToPath(new URL('../fixtures/replay/', import.meta.url));
const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

/**
 * Recorded inbox logs (test/fixtures/replay/, made by its record.ts on the real host) replay through the pure machines
 * to the snapshot and outbox the host persisted: a change to a machine that alters recorded behaviour fails here and
 * needs a reviewed re-recording (DESIGN.md house style).
 */
describe('recorded inbox logs replay to the persisted snapshots', () => {
  it('has two recordings of every actor kind that runs in the runtime', () => {
    for (const a of REPLAYED) expect(fixtures.filter((f) => f.startsWith(`${a.name}-`)), a.name).toHaveLength(2);
  });

  it.each(fixtures)('%s', (file) => {
    const f = JSON.parse(readFileSync(DIR + file, 'utf8')) as ReplayFixture;
    const adapter = REPLAYED.find((a) => a.name === f.machine)!;
    expect(adapter.version, 'machine version of the recording').toBe(f.version);
    const records = replay(adapter, f);
    records.forEach((r, k) => {
      const step = `after input ${k + 1} (${f.inputs[k]!.event.type})`;
      expect(plain(r.snapshot), step).toEqual(f.inputs[k]!.snapshot);
      expect(plain(r.outbox), step).toEqual(f.inputs[k]!.outbox);
    });
    const last = records.at(-1)!;
    expect(last.lastSeq).toBe(f.lastSeq);
    expect(plain(last.snapshot)).toEqual(f.snapshot);
    expect(plain(last.outbox)).toEqual(f.outbox);
  });
});
