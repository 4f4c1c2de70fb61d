import type { KV } from '@nats-io/kv';
import { decode, encode } from '../../nats/codec.ts';
import { encodeId } from '../../nats/ids.ts';
import type { Gap, Range } from './ranges.ts';
import { sealAll, type TagStats } from './stats.ts';
import type { Quality, SampleValue } from './telemetry.schema.ts';

/** Applied sequence ranges and open gaps of one edge epoch. */
export interface EpochRecord {
  ranges: Range[];
  gaps: Gap[];
}

/** The last value of a tag by source time, with its receipt time (two clocks, DESIGN.md principle 8). */
export interface LastValue {
  v: SampleValue;
  q: Quality;
  ts: number;
  rt: number;
}

/**
 * Everything the contextualiser commits for one edge source, in one compare-and-set per batch (DESIGN.md
 * principle 5): what was applied (ranges per epoch and the TELEMETRY position), the gaps, the last value per tag,
 * and the aggregates of the frames this source still contributes to. Key: `encodeId(src)` in the ingest bucket.
 */
export interface SourceRecord {
  v: 1;
  src: string;
  /** Creation time of the TELEMETRY stream that `lastStreamSeq` refers to (a recreated stream restarts seqs). */
  streamCreated: string;
  /** TELEMETRY sequence of the last message of this source that was processed and committed. */
  lastStreamSeq: number;
  /** Epoch of the newest live message. */
  epoch?: string;
  epochs: Record<string, EpochRecord>;
  messages: number;
  samples: number;
  lastSent?: number;
  lastReceivedAt?: number;
  lagMs?: number;
  /** Newest source timestamp applied. */
  maxTs?: number;
  tags: Record<string, LastValue>;
  /** Open aggregates: frame id → tag → statistics. */
  frames: Record<string, Record<string, TagStats>>;
  /** Samples that arrived after a frame's aggregates of this source were final: frame id → count. */
  late: Record<string, number>;
  /** Messages applied whose (src, epoch, seq) was applied before. */
  duplicates?: number;
  /** Which messages fed each open frame: frame id → epoch → seq ranges (lineage: frame → messages). */
  frameMsgs?: Record<string, Record<string, Range[]>>;
  /** Periods of source time whose samples arrived while the source's clock was flagged skewed (annotations). */
  skews?: ClockSkew[];
}

/** Samples of source time [from, to] came while the edge clock was off by `offsetMs` (flagged at `since`). */
export interface ClockSkew {
  from: number;
  to: number;
  offsetMs: number;
  since: number;
  /** Still being extended by new messages. */
  open?: boolean;
}

/** The KV key of a source record. */
export function recordKey(src: string): string {
  return encodeId(src);
}

/** The record of a source nothing was applied from yet. */
export function emptyRecord(src: string, streamCreated: string): SourceRecord {
  const maps = { epochs: {}, tags: {}, frames: {}, late: {}, frameMsgs: {}, skews: [] };
  return { v: 1, src, streamCreated, lastStreamSeq: 0, messages: 0, samples: 0, ...maps };
}

/** Decodes a stored record (undefined for a missing or deleted key). */
export function decodeRecord(value: Uint8Array | undefined): SourceRecord | undefined {
  if (!value || value.length === 0) return undefined;
  return normaliseRecord(decode(value) as SourceRecord);
}

/** Fills the maps a stored record may lack. */
export function normaliseRecord(r: SourceRecord): SourceRecord {
  r.epochs ??= {};
  r.tags ??= {};
  r.frames ??= {};
  r.late ??= {};
  r.frameMsgs ??= {};
  r.skews ??= [];
  return r;
}

/**
 * Loads a source record with its revision. A record written against an earlier TELEMETRY incarnation keeps its
 * ranges (they name edge sequences) but forgets the stream position. The recent-sample buffer is empty after a
 * load, so every aggregate counts as sealed.
 */
export async function loadRecord(
  kv: KV,
  src: string,
  streamCreated: string,
): Promise<{ record: SourceRecord; revision: number; reset: boolean }> {
  const e = await kv.get(recordKey(src));
  const stored = e && e.operation === 'PUT' ? decodeRecord(e.value) : undefined;
  const revision = e?.revision ?? 0;
  if (!stored) return { record: emptyRecord(src, streamCreated), revision, reset: false };
  const reset = stored.streamCreated !== streamCreated;
  if (reset) {
    stored.streamCreated = streamCreated;
    stored.lastStreamSeq = 0;
  }
  for (const tags of Object.values(stored.frames)) for (const s of Object.values(tags)) sealAll(s);
  return { record: stored, revision, reset };
}

/** Compare-and-set write; throws when another writer moved the record. Returns the new revision. */
export async function saveRecord(kv: KV, record: SourceRecord, revision: number): Promise<number> {
  const data = encode(record);
  if (revision === 0) return kv.create(recordKey(record.src), data);
  return kv.update(recordKey(record.src), data, revision);
}

/** True while any epoch of the source has a gap that the edge may still fill. */
export function hasPendingGaps(record: SourceRecord): boolean {
  for (const ep of Object.values(record.epochs)) for (const g of ep.gaps) if (g.status === 'pending') return true;
  return false;
}
