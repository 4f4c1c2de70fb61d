import type { OverflowPolicy } from './disk-buffer.ts';
import type { BufferRecord } from './record.ts';
import type { IndexEntry } from './recover.ts';

/** What the telemetry publisher needs of its store-and-forward buffer ({@link DiskBuffer} in production). */
export interface TelemetryBuffer {
  readonly policy: OverflowPolicy;
  readonly depth: number;
  readonly oldestAt: number | undefined;
  readonly nextRid: number;
  hasRoom(bytes: number): boolean;
  append(payload: Uint8Array, at?: number): Promise<number>;
  entries(from: number, max: number, skip?: (rid: number) => boolean): IndexEntry[];
  read(entries: readonly IndexEntry[]): Promise<BufferRecord[]>;
  ack(rid: number): void;
}

type MemEntry = IndexEntry & { payload: Uint8Array };

/**
 * A buffer held in memory only, for collectors not yet given a disk buffer: the same replay behaviour, but nothing
 * survives a restart, and beyond `maxRecords` the oldest record is dropped with an error log (never silently).
 */
export class MemoryBuffer implements TelemetryBuffer {
  readonly policy = 'drop-oldest-with-alarm' as const;
  #entries: MemEntry[] = [];
  #nextRid = 1;
  constructor(
    private readonly maxRecords = 10_000,
    private readonly onDrop: (rid: number) => void = () => undefined,
  ) {}
  get depth(): number {
    return this.#entries.length;
  }
  get oldestAt(): number | undefined {
    return this.#entries[0]?.at;
  }
  get nextRid(): number {
    return this.#nextRid;
  }
  hasRoom(): boolean {
    return this.#entries.length < this.maxRecords;
  }
  async append(payload: Uint8Array, at = Date.now()): Promise<number> {
    if (this.#entries.length >= this.maxRecords) this.onDrop(this.#entries.shift()!.rid);
    const rid = this.#nextRid++;
    const seg = { file: '', firstRid: rid, lastRid: rid, size: 0 };
    this.#entries.push({ rid, at, seg, offset: 0, len: payload.length, payload });
    return rid;
  }
  entries(from: number, max: number, skip?: (rid: number) => boolean): IndexEntry[] {
    return this.#entries.filter((e) => e.rid >= from && !skip?.(e.rid)).slice(0, max);
  }
  async read(entries: readonly IndexEntry[]): Promise<BufferRecord[]> {
    return entries.map((e) => ({ rid: e.rid, at: e.at, payload: (e as MemEntry).payload }));
  }
  ack(rid: number): void {
    const i = this.#entries.findIndex((e) => e.rid === rid);
    if (i >= 0) this.#entries.splice(i, 1);
  }
}
