import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeBufferError } from '../../errors.ts';
import { logger, type Logger } from '../../log.ts';
import type { Labels, Metrics } from '../../metrics.ts';
import { markerFile, segmentName, syncDir, writeDurable } from './files.ts';
import { encodeRecord, HEADER_BYTES, type BufferRecord } from './record.ts';
import { recover, type IndexEntry, type Recovered, type Segment } from './recover.ts';

/** What the buffer does when an append would exceed `maxBytes`. Either way it raises an alarm; neither is silent. */
export type OverflowPolicy = 'block' | 'drop-oldest-with-alarm';

/** Raised (through `onOverflow`, a metric and an error log) whenever the size bound is hit. */
export interface OverflowEvent {
  policy: OverflowPolicy;
  /** Records dropped from the oldest end (drop policy), 0 when the append was refused (block policy). */
  droppedRecords: number;
  droppedRids?: { from: number; to: number };
  diskBytes: number;
}

/** Options of {@link DiskBuffer.open}. */
export interface DiskBufferOptions {
  dir: string;
  maxBytes?: number;
  segmentBytes?: number;
  /** Group commit: fsync once this many records are waiting… */
  fsyncEveryRecords?: number;
  /** …or once the oldest waiting record has waited this long. */
  fsyncEveryMs?: number;
  overflow?: OverflowPolicy;
  maxRecordBytes?: number;
  log?: Logger;
  metrics?: Metrics;
  labels?: Labels;
  onOverflow?(e: OverflowEvent): void;
}

type Resolved = Required<Omit<DiskBufferOptions, 'metrics' | 'onOverflow'>> & Pick<DiskBufferOptions, 'metrics' | 'onOverflow'>;
type Pending = { buf: Buffer; rid: number; at: number; resolve(rid: number): void; reject(err: Error): void };

/**
 * The edge's write-ahead store-and-forward buffer (CONTRACT.md §5.1 `hist`; DESIGN.md principle 9): append-only
 * segment files of CRC-checked records, fsynced in groups — `append()` resolves only once its record is durable —
 * bounded in size with an explicit overflow policy, trimmed as JetStream acknowledges, recovered after a crash.
 */
export class DiskBuffer {
  readonly dir: string;
  readonly #o: Resolved;
  readonly #segments: Segment[];
  #index: IndexEntry[];
  #head = 0;
  readonly #ackedAhead = new Set<number>();
  #ackedThrough: number;
  #nextRid: number;
  #active: { seg: Segment; fh: FileHandle } | undefined;
  readonly #readers = new Map<Segment, Promise<FileHandle>>();
  #pending: Pending[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #commit: Promise<void> = Promise.resolve();
  #room: Promise<void> = Promise.resolve();
  #markerChain: Promise<void> = Promise.resolve();
  #markerTimer: NodeJS.Timeout | undefined;
  #markerSaved: number;
  #closed = false;
  /** What recovery found when the buffer was opened. */
  readonly recovered: Pick<Recovered, 'corrupt' | 'tornBytes'> & { records: number };

  private constructor(o: Resolved, r: Recovered) {
    this.dir = o.dir;
    this.#o = o;
    this.#segments = r.segments;
    this.#index = r.index;
    this.#ackedThrough = r.ackedThrough;
    this.#markerSaved = r.ackedThrough;
    this.#nextRid = r.nextRid;
    this.recovered = { corrupt: r.corrupt, tornBytes: r.tornBytes, records: r.index.length };
  }

  /** Opens (creating or recovering) the buffer in `dir`. Corrupt records are skipped, counted and logged. */
  static async open(options: DiskBufferOptions): Promise<DiskBuffer> {
    const o = {
      maxBytes: 256 * 2 ** 20, segmentBytes: 8 * 2 ** 20, fsyncEveryRecords: 64, fsyncEveryMs: 5,
      overflow: 'drop-oldest-with-alarm' as const, maxRecordBytes: 4 * 2 ** 20, log: logger('edge.buffer'), labels: {},
      ...options,
    };
    if (o.segmentBytes * 2 > o.maxBytes) o.segmentBytes = Math.max(4096, Math.floor(o.maxBytes / 4));
    await mkdir(o.dir, { recursive: true });
    const r = await recover(o.dir, o.maxRecordBytes, o.log);
    const b = new DiskBuffer(o, r);
    for (const c of r.corrupt) o.log.error({ ...c }, 'buffer: corrupt record skipped');
    o.metrics?.inc('phaseline_edge_buffer_corrupt_records_total', o.labels, r.corrupt.length, 'Buffer records skipped as corrupt on recovery');
    o.log.info({ dir: o.dir, unacked: r.index.length, ackedThrough: r.ackedThrough, corrupt: r.corrupt.length, tornBytes: r.tornBytes }, 'buffer open');
    b.#gauge();
    return b;
  }

  /** The overflow policy in force. */
  get policy(): OverflowPolicy {
    return this.#o.overflow;
  }

  /** Records not yet acknowledged by JetStream. */
  get depth(): number {
    return this.#index.length - this.#head - this.#ackedAhead.size;
  }

  /** Edge time at which the oldest unacknowledged record was sealed. */
  get oldestAt(): number | undefined {
    return this.#index[this.#head]?.at;
  }

  /** The id the next append gets (every id below it has been handed out). */
  get nextRid(): number {
    return this.#nextRid;
  }

  /** Bytes of segment files on disk plus those waiting for the next group commit. */
  get diskBytes(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0) + this.#pendingBytes;
  }

  /** False when an append of `bytes` would exceed the size bound (the `block` policy then refuses it). */
  hasRoom(bytes: number): boolean {
    return this.diskBytes + HEADER_BYTES + bytes <= this.#o.maxBytes;
  }

  /** Appends one record; resolves with its id once it is fsynced (the collector's acknowledgement). */
  async append(payload: Uint8Array, at = Date.now()): Promise<number> {
    if (this.#closed) throw new EdgeBufferError('ERR_EDGE_BUFFER_CLOSED', 'buffer is closed');
    if (payload.length > this.#o.maxRecordBytes)
      throw new EdgeBufferError('ERR_EDGE_BUFFER_FULL', 'record larger than maxRecordBytes', { bytes: payload.length });
    if (!this.hasRoom(payload.length)) {
      // One overflow at a time: concurrent appends must not drop more than needed.
      const run = this.#room.then(() => (this.hasRoom(payload.length) ? undefined : this.#overflow(payload.length)));
      this.#room = run.catch(() => undefined);
      await run;
    }
    const rid = this.#nextRid++;
    const buf = encodeRecord({ rid, at, payload });
    this.#pendingBytes += buf.length;
    const done = new Promise<number>((resolve, reject) => this.#pending.push({ buf, rid, at, resolve, reject }));
    if (this.#pending.length >= this.#o.fsyncEveryRecords) this.#flushSoon(0);
    else this.#flushSoon(this.#o.fsyncEveryMs);
    return done;
  }

  /** Unacknowledged records with `rid >= from`, in order, at most `max`, leaving out those `skip` names. */
  entries(from: number, max: number, skip?: (rid: number) => boolean): IndexEntry[] {
    const out: IndexEntry[] = [];
    let lo = this.#head;
    let hi = this.#index.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#index[mid]!.rid < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.#index.length && out.length < max; i++) {
      const e = this.#index[i]!;
      if (!this.#ackedAhead.has(e.rid) && !skip?.(e.rid)) out.push(e);
    }
    return out;
  }

  /** Reads records back from disk, one read per run of adjacent records in a segment. */
  async read(entries: readonly IndexEntry[]): Promise<BufferRecord[]> {
    const out: BufferRecord[] = [];
    for (let i = 0; i < entries.length; ) {
      let j = i + 1;
      while (j < entries.length && entries[j]!.seg === entries[i]!.seg && entries[j]!.offset === entries[j - 1]!.offset + entries[j - 1]!.len) j++;
      const first = entries[i]!;
      const last = entries[j - 1]!;
      const span = Buffer.allocUnsafe(last.offset + last.len - first.offset);
      const fh = await this.#reader(first.seg);
      await fh.read(span, 0, span.length, first.offset);
      for (let k = i; k < j; k++) {
        const e = entries[k]!;
        const start = e.offset - first.offset + HEADER_BYTES;
        out.push({ rid: e.rid, at: e.at, payload: span.subarray(start, e.offset - first.offset + e.len) });
      }
      i = j;
    }
    return out;
  }

  /** Marks a record acknowledged by JetStream; wholly acknowledged segments are deleted after the marker is saved. */
  ack(rid: number): void {
    if (this.#closed || rid <= this.#ackedThrough || rid >= this.#nextRid) return;
    this.#ackedAhead.add(rid);
    while (this.#head < this.#index.length && this.#ackedAhead.delete(this.#index[this.#head]!.rid)) {
      this.#ackedThrough = this.#index[this.#head]!.rid;
      this.#head++;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#index.length) (this.#index = this.#index.slice(this.#head)), (this.#head = 0);
    this.#gauge();
    this.#markerTimer ??= setTimeout(() => void this.#saveMarker().catch((err) => this.#o.log.error({ err }, 'buffer marker save failed')), 200);
  }

  /** Commits what is pending, saves the marker and closes the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flushSoon(0);
    await this.#commit;
    if (this.#markerTimer) clearTimeout(this.#markerTimer);
    await this.#saveMarker().catch((err) => this.#o.log.error({ err }, 'buffer marker save failed'));
    await this.#active?.fh.close();
    for (const r of this.#readers.values()) await (await r).close().catch(() => undefined);
    this.#readers.clear();
  }

  #flushSoon(ms: number): void {
    if (this.#timer && ms > 0) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const batch = this.#pending.splice(0);
      if (batch.length === 0) return;
      this.#commit = this.#commit.then(() => this.#write(batch));
    }, ms);
  }

  async #write(batch: Pending[]): Promise<void> {
    try {
      for (let i = 0; i < batch.length; ) {
        const active = await this.#activeFor(batch[i]!.buf.length, batch[i]!.rid);
        let j = i;
        let bytes = 0;
        while (j < batch.length && (j === i || active.seg.size + bytes + batch[j]!.buf.length <= this.#o.segmentBytes)) bytes += batch[j++]!.buf.length;
        const base = active.seg.size;
        try {
          await active.fh.writev(batch.slice(i, j).map((p) => p.buf));
          await active.fh.datasync();
        } catch (err) {
          await active.fh.truncate(base).catch(() => undefined);
          throw err;
        }
        let offset = base;
        for (let k = i; k < j; k++) {
          const p = batch[k]!;
          this.#index.push({ rid: p.rid, at: p.at, seg: active.seg, offset, len: p.buf.length });
          offset += p.buf.length;
          active.seg.lastRid = p.rid;
        }
        active.seg.size = offset;
        i = j;
      }
      this.#pendingBytes -= batch.reduce((n, p) => n + p.buf.length, 0);
      this.#o.metrics?.inc('phaseline_edge_buffer_appends_total', this.#o.labels, batch.length, 'Records made durable in the buffer');
      this.#o.metrics?.inc('phaseline_edge_buffer_fsyncs_total', this.#o.labels, 1, 'Group commits (fdatasync) of the buffer');
      this.#gauge();
      for (const p of batch) p.resolve(p.rid);
    } catch (cause) {
      this.#pendingBytes -= batch.reduce((n, p) => n + p.buf.length, 0);
      this.#o.log.error({ err: cause, records: batch.length }, 'buffer write failed: appends rejected');
      this.#o.metrics?.inc('phaseline_edge_buffer_write_errors_total', this.#o.labels, 1, 'Failed buffer group commits');
      const err = new EdgeBufferError('ERR_EDGE_BUFFER_IO', 'buffer write failed', { dir: this.dir }, { cause });
      for (const p of batch) p.reject(err);
    }
  }

  async #activeFor(bytes: number, firstRid: number): Promise<{ seg: Segment; fh: FileHandle }> {
    if (!this.#active) {
      const last = this.#segments.at(-1);
      if (last && last.size + bytes <= this.#o.segmentBytes) this.#active = { seg: last, fh: await open(last.file, 'a') };
    }
    if (this.#active && (this.#active.seg.size === 0 || this.#active.seg.size + bytes <= this.#o.segmentBytes)) return this.#active;
    await this.#active?.fh.close();
    const seg: Segment = { file: join(this.dir, segmentName(firstRid)), firstRid, lastRid: 0, size: 0 };
    const fh = await open(seg.file, 'a');
    await syncDir(this.dir);
    this.#segments.push(seg);
    this.#active = { seg, fh };
    return this.#active;
  }

  #reader(seg: Segment): Promise<FileHandle> {
    let r = this.#readers.get(seg);
    if (!r) this.#readers.set(seg, (r = open(seg.file, 'r')));
    return r;
  }

  async #overflow(bytes: number): Promise<void> {
    const { overflow: policy, log, metrics, labels } = this.#o;
    if (policy === 'block') {
      metrics?.inc('phaseline_edge_buffer_overflows_total', { ...labels, policy }, 1, 'Appends that hit the buffer size bound');
      this.#o.onOverflow?.({ policy, droppedRecords: 0, diskBytes: this.diskBytes });
      throw new EdgeBufferError('ERR_EDGE_BUFFER_FULL', 'buffer full (policy block)', { diskBytes: this.diskBytes, maxBytes: this.#o.maxBytes });
    }
    let dropped = 0;
    let from = 0;
    let to = 0;
    // Whole segments go, oldest first, on the commit chain so no group write runs meanwhile; the active segment is
    // sealed first when it is the only one left.
    const drop = async () => {
      while (!this.hasRoom(bytes) && this.#segments.length > 0) {
        const active = this.#active;
        if (this.#segments.length === 1 && active && active.seg === this.#segments[0]) {
          await active.fh.close();
          this.#active = undefined;
          if (this.#segments[0]!.size === 0) break;
        }
        const seg = this.#segments.shift()!;
        const gone = this.#index.slice(this.#head).filter((e) => e.seg === seg);
        dropped += gone.filter((e) => !this.#ackedAhead.has(e.rid)).length;
        if (gone.length) (from ||= gone[0]!.rid), (to = gone.at(-1)!.rid);
        for (const e of gone) this.#ackedAhead.delete(e.rid);
        this.#head += gone.length;
        this.#ackedThrough = Math.max(this.#ackedThrough, seg.lastRid);
        await this.#dropReader(seg);
        await rm(seg.file, { force: true });
      }
      await syncDir(this.dir);
      await this.#saveMarker();
    };
    const run = this.#commit.then(drop);
    this.#commit = run.catch(() => undefined);
    await run;
    metrics?.inc('phaseline_edge_buffer_overflows_total', { ...labels, policy }, 1, 'Appends that hit the buffer size bound');
    metrics?.inc('phaseline_edge_buffer_dropped_records_total', labels, dropped, 'Unacknowledged buffer records dropped on overflow');
    log.error({ dropped, from, to, maxBytes: this.#o.maxBytes }, 'ALARM buffer overflow: oldest unacknowledged records dropped');
    this.#o.onOverflow?.({ policy, droppedRecords: dropped, ...(dropped ? { droppedRids: { from, to } } : {}), diskBytes: this.diskBytes });
    this.#gauge();
  }

  async #dropReader(seg: Segment): Promise<void> {
    const r = this.#readers.get(seg);
    this.#readers.delete(seg);
    if (r) await (await r).close().catch(() => undefined);
  }

  /** Saves the marker and deletes acknowledged segments; calls are serialised (one temp file, one rename at a time). */
  #saveMarker(): Promise<void> {
    this.#markerTimer = undefined;
    const run = this.#markerChain.then(() => this.#saveMarkerNow());
    this.#markerChain = run.catch(() => undefined);
    return run;
  }

  async #saveMarkerNow(): Promise<void> {
    const through = this.#ackedThrough;
    if (through !== this.#markerSaved) {
      await writeDurable(markerFile(this.dir), JSON.stringify({ ackedThrough: through }));
      this.#markerSaved = through;
    }
    // Segments wholly acknowledged (and no longer written to) can go once the marker says so.
    let removed = false;
    while (this.#segments.length > 1 && this.#segments[0]!.lastRid <= through && this.#segments[0] !== this.#active?.seg) {
      const seg = this.#segments.shift()!;
      await this.#dropReader(seg);
      await rm(seg.file, { force: true });
      removed = true;
    }
    if (removed) await syncDir(this.dir);
    this.#gauge();
  }

  #gauge(): void {
    const { metrics, labels } = this.#o;
    metrics?.set('phaseline_edge_buffer_depth', labels, this.depth, 'Buffered telemetry messages awaiting a JetStream ack');
    metrics?.set('phaseline_edge_buffer_bytes', labels, this.diskBytes, 'Bytes of the store-and-forward buffer on disk');
  }
}
