import type { KV } from '@nats-io/kv';
import { decode, encode } from '../../nats/codec.ts';
import { encodeId } from '../../nats/ids.ts';
import { judgePosition, type PositionVerdict, type StreamIdentity } from '../../nats/stream-identity.ts';
import type { Gap, Range } from './ranges.ts';
import { sealAll, type TagStats } from './stats.ts';
import type { Quality, SampleValue } from '../../nats/telemetry.schema.ts';

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
  /** The TELEMETRY incarnation (nats/stream-identity.ts) that `lastStreamSeq` refers to. */
  incarnation?: string;
  /** Written before incarnations existed (the stream's reported creation time): read only to upgrade the record. */
  streamCreated?: string;
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
export function emptyRecord(src: string, incarnation: string): SourceRecord {
  const maps = { epochs: {}, tags: {}, frames: {}, late: {}, frameMsgs: {}, skews: [] };
  return { v: 1, src, incarnation, lastStreamSeq: 0, messages: 0, samples: 0, ...maps };
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
 * Loads a source record with its revision and judges its TELEMETRY position (nats/stream-identity.ts). The applied
 * ranges name edge sequences `(epoch, seq)` and are the authority on what was applied; the stream position only lets
 * ingest skip what it committed. So a record of an earlier incarnation (`recreated`) keeps its ranges and forgets the
 * position, one from before incarnations existed takes the identity (`adopted`), and one past the stream's end
 * (`beyond`) keeps its ranges, forgets the position and is reported. The recent-sample buffer is empty after a load,
 * so every aggregate counts as sealed.
 */
export async function loadRecord(
  kv: KV,
  src: string,
  telemetry: StreamIdentity,
): Promise<{ record: SourceRecord; revision: number; verdict: PositionVerdict }> {
  const e = await kv.get(recordKey(src));
  const stored = e && e.operation === 'PUT' ? decodeRecord(e.value) : undefined;
  const revision = e?.revision ?? 0;
  if (!stored) return { record: emptyRecord(src, telemetry.incarnation), revision, verdict: { kind: 'same' } };
  const verdict = judgePosition({ incarnation: stored.incarnation, lastSeq: stored.lastStreamSeq }, telemetry);
  delete stored.streamCreated;
  stored.incarnation = telemetry.incarnation;
  if (verdict.kind === 'recreated' || verdict.kind === 'beyond') stored.lastStreamSeq = 0;
  for (const tags of Object.values(stored.frames)) for (const s of Object.values(tags)) sealAll(s);
  return { record: stored, revision, verdict };
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
