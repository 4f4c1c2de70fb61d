import { describe, expect, it } from 'vitest';
import { encodeRecord, HEADER_BYTES, parseRecord, scanSegment } from '../../src/edge/buffer/record.ts';

const rec = (rid: number, text = `payload-${rid}`) => encodeRecord({ rid, at: 1_700_000_000_000 + rid, payload: Buffer.from(text) });

describe('store-and-forward buffer record format', () => {
  it('round-trips length, CRC, record id, seal time and payload', () => {
    const buf = rec(7, 'hello');
    expect(buf.length).toBe(HEADER_BYTES + 5);
    const r = parseRecord(buf, 0, 1024);
    expect(r).toMatchObject({ rid: 7, at: 1_700_000_000_007, offset: 0, end: buf.length });
    expect(Buffer.from((r as { payload: Uint8Array }).payload).toString()).toBe('hello');
  });

  it('rejects a flipped payload bit by CRC and an oversized length field', () => {
    const buf = rec(1);
    buf[HEADER_BYTES + 2]! ^= 0x10;
    expect(parseRecord(buf, 0, 1024)).toBe('bad_crc');
    expect(parseRecord(rec(1), 0, 4)).toBe('bad_length');
  });

  it('treats a partial last record as a torn tail and keeps every record before it', () => {
    const whole = Buffer.concat([rec(1), rec(2), rec(3)]);
    const torn = whole.subarray(0, whole.length - 5);
    const scan = scanSegment(torn, 1024);
    expect(scan.records.map((r) => r.rid)).toEqual([1, 2]);
    expect(scan.corrupt).toEqual([]);
    expect(scan.validEnd).toBe(rec(1).length * 2);
  });

  it('skips and reports a corrupt record in the middle, resynchronising on the next valid one', () => {
    const parts = [rec(1), rec(2), rec(3), rec(4)];
    parts[1]![HEADER_BYTES + 1]! ^= 0xff; // payload bit rot
    parts[2]!.writeUInt32LE(0xfffffff0, 0); // a smashed length field too
    const scan = scanSegment(Buffer.concat(parts), 1024);
    expect(scan.records.map((r) => r.rid)).toEqual([1, 4]);
    expect(scan.corrupt).toHaveLength(1);
    expect(scan.corrupt[0]).toMatchObject({ offset: parts[0]!.length, bytes: parts[1]!.length + parts[2]!.length });
    expect(scan.validEnd).toBe(Buffer.concat(parts).length);
  });

  it('does not accept a record whose id does not increase (a stale copy is not data)', () => {
    const scan = scanSegment(Buffer.concat([rec(5), rec(3)]), 1024);
    expect(scan.records.map((r) => r.rid)).toEqual([5]);
    expect(scan.validEnd).toBe(rec(5).length);
  });

  it('reads zero records from an empty segment', () => {
    expect(scanSegment(Buffer.alloc(0), 1024)).toEqual({ records: [], corrupt: [], validEnd: 0 });
  });
});

describe('replayed telemetry', () => {
  it('adds hist: true to a buffered message without changing anything else', async () => {
    const { encode, decode } = await import('../../nats/codec.ts');
    const { markHistorical } = await import('../../src/edge/telemetry-publisher.ts');
    const msg = { src: 'sim', epoch: 'e1', seq: 7, ctx: { R101: 'c1' }, sent: 1, samples: [{ tag: 'T', v: 1.5, q: 'good' as const, ts: 5 }] };
    expect(decode(markHistorical(encode(msg), msg))).toEqual({ ...msg, hist: true });
  });
});
