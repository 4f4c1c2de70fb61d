import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.ts';
import { markerFile, parseSegmentName, syncDir } from './files.ts';
import { scanSegment, type ParseFailure } from './record.ts';

/** A segment file as the buffer tracks it. */
export interface Segment {
  file: string;
  firstRid: number;
  lastRid: number;
  size: number;
}

/** One unacknowledged record: where it is and when it was sealed. */
export interface IndexEntry {
  rid: number;
  at: number;
  seg: Segment;
  offset: number;
  len: number;
}

/** What opening a buffer directory found. */
export interface Recovered {
  segments: Segment[];
  index: IndexEntry[];
  ackedThrough: number;
  nextRid: number;
  /** Records skipped because they failed their checks in the middle of a segment. */
  corrupt: { file: string; offset: number; bytes: number; reason: ParseFailure }[];
  /** Bytes cut off the end of segments (a write interrupted by a crash, never acknowledged). */
  tornBytes: number;
}

/** Reads the durable "acknowledged through" marker (0 when absent or unreadable: replaying too much is safe). */
export async function readMarker(dir: string, log: Logger): Promise<number> {
  try {
    const v = JSON.parse(await readFile(markerFile(dir), 'utf8')) as { ackedThrough?: unknown };
    if (Number.isSafeInteger(v.ackedThrough) && (v.ackedThrough as number) >= 0) return v.ackedThrough as number;
    log.warn({ dir }, 'buffer ack marker unreadable: replaying every buffered record');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, dir }, 'buffer ack marker unreadable');
  }
  return 0;
}

/**
 * Opens a buffer directory after a clean stop or a crash: scans every segment, truncates torn tails, skips and
 * reports corrupt records, drops segments that are wholly acknowledged, and rebuilds the index of the rest.
 */
export async function recover(dir: string, maxPayload: number, log: Logger): Promise<Recovered> {
  const ackedThrough = await readMarker(dir, log);
  const names = (await readdir(dir)).filter((n) => parseSegmentName(n) !== undefined).sort();
  const out: Recovered = { segments: [], index: [], ackedThrough, nextRid: ackedThrough + 1, corrupt: [], tornBytes: 0 };
  let lastRid = 0;
  for (const name of names) {
    const file = join(dir, name);
    const buf = await readFile(file);
    const scan = scanSegment(buf, maxPayload, lastRid);
    for (const c of scan.corrupt) out.corrupt.push({ file, ...c });
    if (scan.validEnd < buf.length) {
      out.tornBytes += buf.length - scan.validEnd;
      log.warn({ file, at: scan.validEnd, bytes: buf.length - scan.validEnd }, 'buffer segment: torn tail truncated');
      const fh = await open(file, 'r+');
      try {
        await fh.truncate(scan.validEnd);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    const records = scan.records;
    const seg: Segment = {
      file,
      firstRid: records[0]?.rid ?? parseSegmentName(name)!,
      lastRid: records.at(-1)?.rid ?? 0,
      size: scan.validEnd,
    };
    if (records.length > 0) lastRid = seg.lastRid;
    if (seg.lastRid <= ackedThrough && name !== names.at(-1)) {
      await rm(file, { force: true });
      continue;
    }
    out.segments.push(seg);
    for (const r of records) {
      if (r.rid > ackedThrough) out.index.push({ rid: r.rid, at: r.at, seg, offset: r.offset, len: r.end - r.offset });
    }
  }
  if (names.length > out.segments.length) await syncDir(dir);
  out.nextRid = Math.max(lastRid, ackedThrough) + 1;
  return out;
}
