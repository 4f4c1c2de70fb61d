import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SequenceStore } from '../../src/edge/sequence-store.ts';

let varDir: string;
beforeEach(async () => void (varDir = await mkdtemp(join(tmpdir(), 'phaseline-seq-'))));
afterEach(() => rm(varDir, { recursive: true, force: true }));

describe('edge sequence store', () => {
  it('continues (epoch, seq) across a restart without reusing a number', async () => {
    const a = await SequenceStore.open(varDir, 'sim');
    expect([await a.next(), await a.next(), await a.next()]).toEqual([1, 2, 3]);
    const b = await SequenceStore.open(varDir, 'sim');
    expect(b.epoch).toBe(a.epoch);
    expect(await b.next()).toBe(4);
  });

  it('mints a new epoch at seq 1 when the store was lost, never reusing the old numbers', async () => {
    const a = await SequenceStore.open(varDir, 'sim');
    await a.next();
    await a.next();
    await rm(a.file);
    const b = await SequenceStore.open(varDir, 'sim');
    expect(b.epoch).not.toBe(a.epoch);
    expect(await b.next()).toBe(1);
  });

  it('mints a new epoch when the store is corrupt', async () => {
    const a = await SequenceStore.open(varDir, 'sim');
    await a.next();
    await writeFile(a.file, '{"epoch":');
    const b = await SequenceStore.open(varDir, 'sim');
    expect(b.epoch).not.toBe(a.epoch);
    expect(b.lastSeq).toBe(0);
  });
});
