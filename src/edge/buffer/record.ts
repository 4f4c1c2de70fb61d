import { crc32 } from 'node:zlib';

/**
 * On-disk record of the store-and-forward buffer (little endian):
 * `len u32 | crc32 u32 | rid f64 | at f64 | payload[len]`, the CRC covering `rid`, `at` and the payload.
 * `rid` is the buffer's own record id (strictly increasing, never reused); `at` the edge time the record was sealed.
 */
export const HEADER_BYTES = 24;

/** One buffered record. */
export interface BufferRecord {
  rid: number;
  at: number;
  payload: Uint8Array;
}

/** A record found by {@link parseRecord}, with where it ends in the file. */
export interface ParsedRecord extends BufferRecord {
  offset: number;
  end: number;
}

/** Why a record could not be read at an offset. */
export type ParseFailure = 'short_header' | 'bad_length' | 'short_payload' | 'bad_crc';

/** Encodes one record (header + payload) into a fresh buffer. */
export function encodeRecord(r: BufferRecord): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + r.payload.length);
  out.writeUInt32LE(r.payload.length, 0);
  out.writeDoubleLE(r.rid, 8);
  out.writeDoubleLE(r.at, 16);
  out.set(r.payload, HEADER_BYTES);
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

/** Reads the record at `offset`; a failure says why (the caller decides torn tail vs. corrupt middle). */
export function parseRecord(buf: Buffer, offset: number, maxPayload: number): ParsedRecord | ParseFailure {
  if (buf.length - offset < HEADER_BYTES) return 'short_header';
  const len = buf.readUInt32LE(offset);
  if (len > maxPayload) return 'bad_length';
  const end = offset + HEADER_BYTES + len;
  if (end > buf.length) return 'short_payload';
  if (crc32(buf.subarray(offset + 8, end)) !== buf.readUInt32LE(offset + 4)) return 'bad_crc';
  const rid = buf.readDoubleLE(offset + 8);
  const at = buf.readDoubleLE(offset + 16);
  if (!Number.isSafeInteger(rid) || rid < 1 || !Number.isFinite(at)) return 'bad_crc';
  return { rid, at, payload: buf.subarray(offset + HEADER_BYTES, end), offset, end };
}

/** The outcome of scanning one segment's bytes. */
export interface SegmentScan {
  records: ParsedRecord[];
  /** Byte ranges skipped because a record in them failed its checks and a valid record followed. */
  corrupt: { offset: number; bytes: number; reason: ParseFailure }[];
  /** Where the valid data ends: bytes from here on are a torn tail (nothing valid follows). */
  validEnd: number;
}

/**
 * Scans a segment: valid records in order; a bad record followed by a valid one (found by resynchronising on the
 * next offset whose CRC checks and whose rid is above the last good one) is skipped and reported; a bad record with
 * nothing valid after it is the torn tail of an interrupted write.
 */
export function scanSegment(buf: Buffer, maxPayload: number, afterRid = 0): SegmentScan {
  const records: ParsedRecord[] = [];
  const corrupt: SegmentScan['corrupt'] = [];
  let offset = 0;
  let lastRid = afterRid;
  while (offset < buf.length) {
    const r = parseRecord(buf, offset, maxPayload);
    if (typeof r !== 'string' && r.rid > lastRid) {
      records.push(r);
      lastRid = r.rid;
      offset = r.end;
      continue;
    }
    const next = resync(buf, offset + 1, maxPayload, lastRid);
    if (next === undefined) break;
    corrupt.push({ offset, bytes: next - offset, reason: typeof r === 'string' ? r : 'bad_crc' });
    offset = next;
  }
  return { records, corrupt, validEnd: offset };
}

function resync(buf: Buffer, from: number, maxPayload: number, lastRid: number): number | undefined {
  for (let o = from; o + HEADER_BYTES <= buf.length; o++) {
    const r = parseRecord(buf, o, maxPayload);
    if (typeof r !== 'string' && r.rid > lastRid) return o;
  }
  return undefined;
}
