import type { FrameIndex } from './frame-index.ts';
import { addSeq } from './ranges.ts';
import type { Frame } from './frame-store.ts';
import type { UnitBuffer } from './sample-buffer.ts';
import type { SourceRecord } from './source-record.ts';
import { addSample, emptyStats, numeric, seal, truncate } from './stats.ts';
import type { Sample } from '../../nats/telemetry.schema.ts';

/** What the aggregation helpers need to see: frames, buffers, and the record of the source owning each tag. */
export interface AggregationScope {
  index: FrameIndex;
  buffer(unit: string): UnitBuffer;
  /** Record of the source that publishes `tag` (undefined for tags not in the dictionary). */
  recordOf(tag: string): SourceRecord | undefined;
  markDirty(src: string): void;
}

/**
 * Applies one sample to every frame of its unit that encloses its source time (counted once per enclosing frame),
 * or counts it late on a frame whose aggregates of this source were already final. Keeps the sample in the unit's
 * buffer when it is recent enough. Returns nothing: the record is updated in place.
 */
export function applySample(
  scope: AggregationScope,
  rec: SourceRecord,
  unit: string,
  s: Sample,
  clampTs: number,
): readonly Frame[] {
  const buf = scope.buffer(unit);
  const keep = buf.keeps(s.ts);
  const frames = scope.index.at(unit, s.ts);
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    let aggs = rec.frames[f.id];
    if (!aggs) {
      if (scope.index.isFinal(f.id, rec.src)) {
        rec.late[f.id] = (rec.late[f.id] ?? 0) + 1;
        continue;
      }
      rec.frames[f.id] = aggs = {};
    }
    const a = (aggs[s.tag] ??= emptyStats());
    addSample(a, s.v, s.q, s.ts, !keep, keep ? () => buf.neighbours(s.tag, s.ts, f.start, f.end) : undefined);
  }
  if (keep) buf.insert(s, clampTs);
  return frames;
}

/** A telemetry message of one source, by epoch and seq. */
export interface MessageRef {
  epoch: string;
  seq: number;
}

/** Notes that message `ref` fed `frameId` (frame → messages, for lineage). */
export function noteMessage(rec: SourceRecord, frameId: string, ref: MessageRef): void {
  const byEpoch = ((rec.frameMsgs ??= {})[frameId] ??= {});
  addSeq((byEpoch[ref.epoch] ??= []), ref.seq);
}

/** Folds a sample that leaves the buffer into the sealed extremes of the frames that counted it. */
export function sealSample(scope: AggregationScope, unit: string, s: Sample): void {
  if (s.q === 'bad') return;
  const x = numeric(s.v);
  if (x === undefined) return;
  const rec = scope.recordOf(s.tag);
  if (!rec) return;
  for (const f of scope.index.at(unit, s.ts)) {
    const a = rec.frames[f.id]?.[s.tag];
    if (a) seal(a, x);
  }
}

/**
 * Backfills a frame that became known after samples of its window were applied (e.g. a manual phase started over
 * HTTP while telemetry was in flight). Returns false when its start lies before the buffer's horizon: older
 * samples are no longer at hand.
 */
export function backfill(scope: AggregationScope, frame: Frame): boolean {
  const buf = scope.buffer(frame.unit);
  for (const tag of buf.tags()) {
    const rec = scope.recordOf(tag);
    if (!rec || scope.index.isFinal(frame.id, rec.src)) continue;
    const samples = buf.window(tag, frame.start, frame.end);
    if (samples.length === 0) continue;
    const aggs = (rec.frames[frame.id] ??= {});
    const a = (aggs[tag] ??= emptyStats());
    const nb = (ts: number) => () => buf.neighbours(tag, ts, frame.start, frame.end);
    for (const s of samples) addSample(a, s.v, s.q, s.ts, false, nb(s.ts));
    scope.markDirty(rec.src);
  }
  return buf.covers(frame.start);
}

/**
 * Cuts a frame whose end became known after samples at or past that end were counted in it (the close event raced
 * the telemetry). Returns false when the cut may be inexact: the buffer no longer reaches back to the end.
 */
export function cutAtEnd(scope: AggregationScope, frame: Frame, records: Iterable<SourceRecord>): boolean {
  const end = frame.end;
  if (end === undefined) return true;
  const buf = scope.buffer(frame.unit);
  for (const rec of records) {
    const aggs = rec.frames[frame.id];
    if (!aggs) continue;
    for (const [tag, a] of Object.entries(aggs)) {
      const removed = buf.window(tag, Math.max(end, frame.start));
      if (removed.length === 0) continue;
      const floor = buf.floor(tag);
      const kept = buf.window(tag, frame.start, end);
      truncate(a, end, removed, kept, floor && floor.ts >= frame.start ? floor : undefined);
      if (a.n <= 0) delete aggs[tag];
      scope.markDirty(rec.src);
    }
    if (Object.keys(aggs).length === 0) {
      delete rec.frames[frame.id];
      if (rec.frameMsgs) delete rec.frameMsgs[frame.id];
    }
  }
  return buf.covers(end);
}
