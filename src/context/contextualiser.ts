import type { InputEnvelope } from '../../actors/envelope.ts';
import { encodeId } from '../../nats/ids.ts';
import { subjects } from '../../nats/subjects.ts';
import type { PlantConfig, Source } from '../../config/plant.schema.ts';
import { applySample, backfill, cutAtEnd, sealSample, type AggregationScope } from './aggregation.ts';
import { FrameIndex, type FrameChange } from './frame-index.ts';
import type { FinalAggregate, Frame } from './frame-store.ts';
import { addSeq, expireGaps, hasSeq, reconcileGaps } from './ranges.ts';
import { UnitBuffer } from './sample-buffer.ts';
import { emptyRecord, hasPendingGaps, type SourceRecord } from './source-record.ts';
import { unknownTags, wholeMessage, wrongTypes, type Incoming, type Rejection } from './rejections.ts';
import { parseTelemetry, type Sample, type TelemetryLimits, type TelemetryMessage } from './telemetry.schema.ts';

/** An actor input to publish before the commit, so a crash republishes the same `Nats-Msg-Id`. */
export interface ActorInput {
  subject: string;
  msgId: string;
  envelope: InputEnvelope;
}

/** Per-cycle counters of one source, published as metrics once the cycle is committed. */
export interface Counts {
  messages: number;
  samples: number;
  duplicates: number;
  redelivered: number;
}

/** The in-memory state of one source: its record as last committed plus this cycle's changes. */
export interface SourceState {
  def: Source;
  rec: SourceRecord;
  revision: number;
  dirty: boolean;
  touched: Set<string>;
  counts: Counts;
}

interface TagInfo {
  unit: string;
  source: string;
  dataType: 'number' | 'boolean' | 'string';
  /** Set on a phase's stateTag: the automatic phase whose PLC state this tag reports. */
  phase?: string;
}

/** How far a sample may lie in the future of its receipt before it stops moving the buffer's horizon. */
const FUTURE_TOLERANCE_MS = 60_000;

export type { Incoming, Rejection };

/**
 * The functional core of the contextualiser (DESIGN.md principles 1, 5, 8, 9): applies TELEMETRY messages to source
 * records and event-frame aggregates, exactly once per `(src, epoch, seq)`, and collects what must be published
 * (dead letters, PLC state inputs) and finalised before the shell commits and acknowledges. No I/O here.
 */
export class Contextualiser {
  readonly index = new FrameIndex();
  readonly states = new Map<string, SourceState>();
  readonly rejections: Rejection[] = [];
  readonly inputs: ActorInput[] = [];
  readonly #byToken = new Map<string, SourceState>();
  readonly #tags = new Map<string, TagInfo>();
  readonly #buffers = new Map<string, UnitBuffer>();
  /** State tags whose value was seen since start (the first one is always forwarded, to reconcile the actor). */
  readonly #seenState = new Set<string>();
  readonly #limits: TelemetryLimits;
  readonly #lateBufferMs: number;
  readonly #bufferCap: number;
  readonly #scope: AggregationScope;
  /** Frames whose backfill or cut could not be exact (their window reaches beyond the buffer). */
  inexact = 0;

  constructor(config: PlantConfig, options: { bufferCap?: number } = {}) {
    const { maxMessageBytes, maxSamplesPerMessage, lateBufferMs } = config.runtime.ingest;
    this.#limits = { maxMessageBytes, maxSamplesPerMessage };
    this.#lateBufferMs = lateBufferMs;
    this.#bufferCap = options.bufferCap ?? 500_000;
    const stateTags = new Map<string, string>();
    for (const p of config.phases) if (p.execution === 'automatic' && p.stateTag) stateTags.set(p.stateTag, p.id);
    for (const t of config.tags) {
      const phase = stateTags.get(t.tag);
      this.#tags.set(t.tag, { unit: t.unit, source: t.source, dataType: t.dataType, ...(phase ? { phase } : {}) });
    }
    for (const u of config.units) this.#buffers.set(u.id, new UnitBuffer());
    this.#scope = {
      index: this.index,
      buffer: (unit) => this.#buffer(unit),
      recordOf: (tag) => this.states.get(this.#tags.get(tag)?.source ?? '')?.rec,
      markDirty: (src) => void (this.states.get(src)!.dirty = true),
    };
    for (const def of config.sources) this.#byToken.set(encodeId(def.id), this.#blank(def));
  }

  /** Installs a source record as loaded from KV (at start and after a failed commit). */
  load(rec: SourceRecord, revision: number): void {
    const st = this.states.get(rec.src);
    if (!st) throw new RangeError(`unknown source ${rec.src}`);
    Object.assign(st, { rec, revision, dirty: false, touched: new Set<string>(), counts: zeroCounts() });
  }

  /** Forgets everything not committed: buffers restart empty, state tags are forwarded again on first sight. */
  reset(): void {
    const since = Math.max(-Infinity, ...[...this.states.values()].map((s) => s.rec.maxTs ?? -Infinity));
    for (const b of this.#buffers.values()) b.clear(since);
    this.#seenState.clear();
    this.rejections.length = 0;
    this.inputs.length = 0;
  }

  /** Applies one TELEMETRY message, or records why it is rejected. */
  process(m: Incoming): void {
    const st = this.#byToken.get(m.subject.slice(4));
    if (!st) return this.#reject(wholeMessage(m, 'unknown_source', `subject ${m.subject} names no configured source`));
    if (m.streamSeq <= st.rec.lastStreamSeq) {
      st.counts.redelivered++; // committed before a crash or a lost ack: already applied or already dead-lettered
      return;
    }
    st.rec.lastStreamSeq = m.streamSeq;
    st.dirty = true;
    const parsed = parseTelemetry(m.data, this.#limits);
    if (!parsed.ok) return this.#reject(wholeMessage(m, parsed.reason, parsed.detail));
    const msg = parsed.msg;
    if (msg.src !== st.def.id) {
      const detail = `src ${JSON.stringify(msg.src)} differs from the subject's source ${st.def.id}`;
      return this.#reject(wholeMessage(m, 'unknown_source', detail));
    }
    const ep = Object.hasOwn(st.rec.epochs, msg.epoch)
      ? st.rec.epochs[msg.epoch]!
      : (st.rec.epochs[msg.epoch] = { ranges: [], gaps: [] });
    if (hasSeq(ep.ranges, msg.seq)) {
      st.counts.duplicates++;
      return this.#reject(wholeMessage(m, 'duplicate', `(${msg.src}, ${msg.epoch}, ${msg.seq}) was already applied`));
    }
    addSeq(ep.ranges, msg.seq);
    st.touched.add(msg.epoch);
    this.#applyMessage(st, msg, m);
  }

  #applyMessage(st: SourceState, msg: TelemetryMessage, m: Incoming): void {
    const rec = st.rec;
    if (!msg.hist || rec.epoch === undefined) rec.epoch = msg.epoch;
    rec.messages++;
    rec.lastSent = msg.sent;
    rec.lastReceivedAt = m.receivedAt;
    rec.lagMs = m.receivedAt - msg.sent;
    const clampTs = m.receivedAt + FUTURE_TOLERANCE_MS;
    let maxTs = rec.maxTs ?? -Infinity;
    let unknown: Sample[] | undefined;
    let mistyped: Sample[] | undefined;
    let plcCount: Map<string, number> | undefined;
    for (const s of msg.samples) {
      const info = this.#tags.get(s.tag);
      if (!info || info.source !== rec.src) {
        (unknown ??= []).push(s);
        continue;
      }
      if (typeof s.v !== info.dataType) {
        (mistyped ??= []).push(s);
        continue;
      }
      const lv = rec.tags[s.tag];
      const newest = !lv || s.ts >= lv.ts;
      if (info.phase && s.q !== 'bad' && newest && (!lv || !this.#seenState.has(s.tag) || lv.v !== s.v)) {
        this.#plcState(st, msg, s, info.phase, (plcCount ??= new Map()));
      }
      if (!lv) rec.tags[s.tag] = { v: s.v, q: s.q, ts: s.ts, rt: m.receivedAt };
      else if (newest) {
        lv.v = s.v;
        lv.q = s.q;
        lv.ts = s.ts;
        lv.rt = m.receivedAt;
      }
      applySample(this.#scope, rec, info.unit, s, clampTs);
      if (s.ts > maxTs) maxTs = Math.min(s.ts, clampTs);
      st.counts.samples++;
    }
    if (maxTs > -Infinity) rec.maxTs = maxTs;
    rec.samples += msg.samples.length - (unknown?.length ?? 0) - (mistyped?.length ?? 0);
    st.counts.messages++;
    if (unknown) this.rejections.push(unknownTags(m, msg, unknown));
    if (mistyped) this.rejections.push(wrongTypes(m, msg, mistyped, (tag) => this.#tags.get(tag)!.dataType));
  }

  /** Forwards a changed PLC state of an automatic phase as an actor input (DESIGN.md principle 10). */
  #plcState(st: SourceState, msg: TelemetryMessage, s: Sample, phase: string, count: Map<string, number>): void {
    const n = count.get(s.tag) ?? 0;
    count.set(s.tag, n + 1);
    this.#seenState.add(s.tag);
    const msgId = `plc:${st.rec.src}:${msg.epoch}:${msg.seq}:${s.tag}${n > 0 ? `:${n}` : ''}`;
    const event = { type: 'PLC_STATE', at: s.ts, state: s.v, by: `plc:${st.rec.src}` };
    this.inputs.push({ subject: subjects.inbox('phase', phase), msgId, envelope: { event } });
  }

  /** Applies a frame as seen on the frames bucket: backfills a new one, cuts one whose end became known. */
  applyFrame(frame: Frame): FrameChange | undefined {
    const change = this.index.upsert(frame);
    if (!change) return undefined;
    let exact = true;
    if (change.type === 'opened') exact = backfill(this.#scope, frame);
    else if (change.type === 'closed') {
      exact = cutAtEnd(this.#scope, frame, [...this.states.values()].map((s) => s.rec));
    }
    if (!exact) this.inexact++;
    return change;
  }

  /** Loads a frame known before start: no backfill (the records already hold what was applied to it). */
  knowFrame(frame: Frame): void {
    this.index.upsert(frame);
  }

  /**
   * End-of-cycle bookkeeping: gaps of the epochs that got new seqs, pending gaps that expired (unless the edge still
   * buffers), and buffer eviction (sealing what leaves it).
   */
  housekeeping(now: number, buffering: (src: string) => boolean): void {
    for (const st of this.states.values()) {
      for (const epoch of st.touched) {
        const ep = st.rec.epochs[epoch]!;
        ep.gaps = reconcileGaps(epoch, ep.ranges, ep.gaps, now);
      }
      st.touched.clear();
      if (!hasPendingGaps(st.rec)) continue;
      const busy = buffering(st.rec.src);
      for (const ep of Object.values(st.rec.epochs)) {
        if (expireGaps(ep.gaps, now, st.def.gapLostAfterMs, busy)) st.dirty = true;
      }
    }
    for (const [unit, buf] of this.#buffers) {
      buf.evict(this.#lateBufferMs, this.#bufferCap, (s) => sealSample(this.#scope, unit, s));
    }
  }

  /**
   * Aggregates ready to leave the source records: the frame is closed, the source has applied samples past its
   * end, and no pending gap could still bring samples for it.
   */
  finalisable(now: number): FinalAggregate[] {
    const out: FinalAggregate[] = [];
    for (const st of this.states.values()) {
      const { rec } = st;
      if (rec.maxTs === undefined || hasPendingGaps(rec)) continue;
      for (const [id, tags] of Object.entries(rec.frames)) {
        const end = this.index.get(id)?.end;
        if (end !== undefined && rec.maxTs >= end) out.push({ frame: id, src: rec.src, end, tags, finalisedAt: now });
      }
    }
    return out;
  }

  /** Drops finalised aggregates from their records (after they were stored under `agg.*`). */
  finalised(aggregates: FinalAggregate[]): void {
    for (const a of aggregates) {
      const st = this.states.get(a.src)!;
      delete st.rec.frames[a.frame];
      this.index.markFinal(a.frame, a.src);
      st.dirty = true;
    }
  }

  /** Sources with uncommitted changes. */
  dirty(): SourceState[] {
    return [...this.states.values()].filter((s) => s.dirty);
  }

  #blank(def: Source): SourceState {
    const rec = emptyRecord(def.id, '');
    const st: SourceState = { def, rec, revision: 0, dirty: false, touched: new Set(), counts: zeroCounts() };
    this.states.set(def.id, st);
    return st;
  }

  #reject(r: Rejection): void {
    this.rejections.push(r);
  }

  #buffer(unit: string): UnitBuffer {
    let b = this.#buffers.get(unit);
    if (!b) this.#buffers.set(unit, (b = new UnitBuffer()));
    return b;
  }
}

function zeroCounts(): Counts {
  return { messages: 0, samples: 0, duplicates: 0, redelivered: 0 };
}
