import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskBuffer, type DiskBufferOptions, type OverflowEvent } from '../../src/edge/buffer/disk-buffer.ts';
import { HEADER_BYTES } from '../../src/edge/buffer/record.ts';
import { Metrics } from '../../src/metrics.ts';

let dir: string;
const open: DiskBuffer[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phaseline-buffer-'));
});
afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
  await rm(dir, { recursive: true, force: true });
});

async function buffer(o: Partial<DiskBufferOptions> = {}): Promise<DiskBuffer> {
  const b = await DiskBuffer.open({ dir, fsyncEveryMs: 1, ...o });
  open.push(b);
  return b;
}
const text = (p: Uint8Array) => Buffer.from(p).toString();
const payload = (n: number, size = 100) => Buffer.from(`m${n}:`.padEnd(size, '.'));
async function all(b: DiskBuffer) {
  return (await b.read(b.entries(0, 1e9))).map((r) => text(r.payload).split(':')[0]);
}
const segments = async () => (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();

describe('store-and-forward disk buffer', () => {
  it('resolves an append only after its group is fsynced, and reads records back in order after a reopen', async () => {
    const metrics = new Metrics();
    const b = await buffer({ fsyncEveryRecords: 10, fsyncEveryMs: 50, metrics, labels: { src: 't' } });
    const rids = await Promise.all(Array.from({ length: 25 }, (_, n) => b.append(payload(n))));
    expect(rids).toEqual(Array.from({ length: 25 }, (_, n) => n + 1));
    expect(metrics.get('phaseline_edge_buffer_fsyncs_total', { src: 't' })).toBeLessThanOrEqual(4);
    expect(b.depth).toBe(25);
    await b.close();
    open.pop();
    const again = await buffer();
    expect(await all(again)).toEqual(Array.from({ length: 25 }, (_, n) => `m${n}`));
    expect(again.nextRid).toBe(26);
  });

  it('rotates segments at the size bound and deletes a segment once every record in it is acknowledged', async () => {
    const b = await buffer({ segmentBytes: 1000, maxBytes: 1e6 });
    for (let n = 0; n < 30; n++) await b.append(payload(n)); // 124 B per record: 8 per segment
    expect(await segments()).toEqual([1, 9, 17, 25].map((r) => `seg-${String(r).padStart(16, '0')}.log`));
    for (let rid = 1; rid <= 16; rid++) b.ack(rid);
    await b.close();
    open.pop();
    expect((await segments()).length).toBe(2);
    expect(JSON.parse(await readFile(join(dir, 'acked.json'), 'utf8'))).toEqual({ ackedThrough: 16 });
    const again = await buffer({ segmentBytes: 1000 });
    expect(again.depth).toBe(14);
    expect((await all(again))[0]).toBe('m16');
  });

  it('keeps acknowledging out of order correct: only the contiguous prefix becomes the durable marker', async () => {
    const b = await buffer();
    for (let n = 0; n < 5; n++) await b.append(payload(n));
    b.ack(2);
    b.ack(3);
    expect(b.depth).toBe(3);
    expect(b.entries(0, 10).map((e) => e.rid)).toEqual([1, 4, 5]);
    b.ack(1);
    expect(b.oldestAt).toBe(b.entries(0, 1)[0]!.at);
    expect(b.entries(0, 10).map((e) => e.rid)).toEqual([4, 5]);
  });

  it('truncates a torn tail on open and appends after it', async () => {
    const b = await buffer();
    for (let n = 0; n < 3; n++) await b.append(payload(n));
    await b.close();
    open.pop();
    const [seg] = await segments();
    await appendFile(join(dir, seg!), Buffer.from([50, 0, 0, 0, 1, 2, 3])); // a crash mid-write
    const again = await buffer();
    expect(again.recovered).toMatchObject({ records: 3, tornBytes: 7, corrupt: [] });
    expect((await stat(join(dir, seg!))).size).toBe(3 * (HEADER_BYTES + 100));
    await again.append(payload(3));
    expect(await all(again)).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('skips, counts and reports a corrupt record in the middle without crashing', async () => {
    const b = await buffer();
    for (let n = 0; n < 4; n++) await b.append(payload(n));
    await b.close();
    open.pop();
    const file = join(dir, (await segments())[0]!);
    const bytes = await readFile(file);
    bytes[(HEADER_BYTES + 100) * 1 + HEADER_BYTES + 10]! ^= 0x01; // bit rot in record 2
    await writeFile(file, bytes);
    const metrics = new Metrics();
    const again = await buffer({ metrics });
    expect(again.recovered.corrupt).toHaveLength(1);
    expect(again.recovered.corrupt[0]).toMatchObject({ offset: HEADER_BYTES + 100, reason: 'bad_crc' });
    expect(metrics.get('phaseline_edge_buffer_corrupt_records_total')).toBe(1);
    expect(await all(again)).toEqual(['m0', 'm2', 'm3']);
  });

  it('drops the oldest segment with an alarm when full under drop-oldest-with-alarm, never silently', async () => {
    const alarms: OverflowEvent[] = [];
    const metrics = new Metrics();
    const b = await buffer({ segmentBytes: 1000, maxBytes: 2600, overflow: 'drop-oldest-with-alarm', metrics, onOverflow: (e) => alarms.push(e) });
    for (let n = 0; n < 24; n++) await b.append(payload(n));
    expect(alarms.length).toBeGreaterThan(0);
    expect(alarms[0]).toMatchObject({ policy: 'drop-oldest-with-alarm', droppedRecords: 8, droppedRids: { from: 1, to: 8 } });
    const dropped = alarms.reduce((n, a) => n + a.droppedRecords, 0);
    expect(metrics.get('phaseline_edge_buffer_dropped_records_total')).toBe(dropped);
    expect(b.depth + dropped).toBe(24);
    expect(b.diskBytes).toBeLessThanOrEqual(2600);
    expect((await all(b)).at(-1)).toBe('m23');
  });

  it('refuses an append with ERR_EDGE_BUFFER_FULL and an alarm under block, and accepts again once acked', async () => {
    const alarms: OverflowEvent[] = [];
    const b = await buffer({ segmentBytes: 1000, maxBytes: 2600, overflow: 'block', onOverflow: (e) => alarms.push(e) });
    let n = 0;
    while (b.hasRoom(100)) await b.append(payload(n++));
    await expect(b.append(payload(n))).rejects.toMatchObject({ code: 'ERR_EDGE_BUFFER_FULL' });
    expect(alarms).toMatchObject([{ policy: 'block', droppedRecords: 0 }]);
    expect(b.depth).toBe(n);
    for (let rid = 1; rid <= 8; rid++) b.ack(rid);
    await new Promise((r) => setTimeout(r, 300)); // the marker is saved and the acknowledged segment deleted
    expect(b.hasRoom(100)).toBe(true);
    await b.append(payload(n));
  });

  it('keeps every record whose append resolved when the appending process is killed with SIGKILL', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/buffer-append-child.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Map<number, number>();
    let carry = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout!.on('data', (d: Buffer) => {
        const lines = (carry + d.toString()).split('\n');
        carry = lines.pop()!;
        for (const l of lines) {
          const [i, rid] = l.split(' ').map(Number);
          if (rid !== undefined && !Number.isNaN(rid)) acked.set(rid, i!);
        }
        if (acked.size >= 3000) resolve();
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const b = await buffer({ segmentBytes: 64 * 1024, maxBytes: 64 * 2 ** 20 });
    const records = new Map((await b.read(b.entries(0, 1e9))).map((r) => [r.rid, text(r.payload)]));
    const missing = [...acked].filter(([rid, i]) => !records.get(rid)?.startsWith(`p-${i}-`));
    expect(missing).toEqual([]);
    expect(b.recovered.corrupt).toEqual([]);
    expect(records.size).toBeGreaterThanOrEqual(acked.size);
  }, 30_000);
});
