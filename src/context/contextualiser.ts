import type { InputEnvelope } from '../../actors/envelope.ts';
import { encodeId } from '../../nats/ids.ts';
import { subjects } from '../../nats/subjects.ts';
import type { PlantConfig, Source } from '../../config/plant.schema.ts';
import { applySample, backfill, cutAtEnd, noteMessage, sealSample, type AggregationScope, type MessageRef } from './aggregation.ts';
import type { ClockBook } from './clock.ts';
import type { Frame } from './frame-store.ts';
import { dictionaryVersion, LineageCollector, linear, type DictionaryVersion, type LineageMessage } from './lineage.ts';
import { FrameIndex, type FrameChange } from './frame-index.ts';
import type { FinalAggregate } from './frame-store.ts';
import { addSeq, expireGaps, hasSeq, reconcileGaps } from './ranges.ts';
import { UnitBuffer } from './sample-buffer.ts';
import { emptyRecord, hasPendingGaps, type SourceRecord } from './source-record.ts';
import { unknownTags, wholeMessage, wrongTypes, type Incoming, type Rejection } from './rejections.ts';
import { parseTelemetry, type Sample, type TelemetryLimits, type TelemetryMessage } from '../../nats/telemetry.schema.ts';

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
  /** Normalisation `v = k × raw + c` (tags with a `scale`). */
  k?: number;
  c?: number;
}

/** Skew periods kept per source record (the oldest are dropped beyond this). */
const MAX_SKEWS = 200;

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
  /** The tag dictionary version every sample is mapped with (lineage). */
  readonly dictionary: DictionaryVersion;
  /** This cycle's lineage, stored by the shell before the commit. */
  readonly lineage: LineageCollector;
  readonly #clock: ClockBook | undefined;
  /** Recently applied messages with their source-time span (kept as long as the sample buffers). */
  #recent: { src: string; ref: MessageRef; tsMin: number; tsMax: number }[] = [];
  readonly #unitSources = new Map<string, Set<string>>();

  constructor(config: PlantConfig, options: { bufferCap?: number; clock?: ClockBook } = {}) {
    this.dictionary = dictionaryVersion(config.tags);
    this.lineage = new LineageCollector(this.dictionary.version, config.version);
    this.#clock = options.clock;
    const { maxMessageBytes, maxSamplesPerMessage, lateBufferMs } = config.runtime.ingest;
    this.#limits = { maxMessageBytes, maxSamplesPerMessage };
    this.#lateBufferMs = lateBufferMs;
    this.#bufferCap = options.bufferCap ?? 500_000;
    const stateTags = new Map<string, string>();
    for (const p of config.phases) if (p.execution === 'automatic' && p.stateTag) stateTags.set(p.stateTag, p.id);
    for (const t of config.tags) {
      const phase = stateTags.get(t.tag);
      const lin = t.dataType === 'number' ? linear(t.scale) : undefined;
      const info: TagInfo = { unit: t.unit, source: t.source, dataType: t.dataType, ...(phase ? { phase } : {}) };
      if (lin) Object.assign(info, lin);
      this.#tags.set(t.tag, info);
    }
    for (const u of config.units) this.#buffers.set(u.id, new UnitBuffer());
    const feed = (unit: string, src: string) =>
      (this.#unitSources.get(unit) ?? this.#unitSources.set(unit, new Set()).get(unit)!).add(src);
    for (const u of config.units) feed(u.id, u.source);
    for (const t of config.tags) feed(t.unit, t.source);
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
    this.lineage.clear();
    this.#recent = [];
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
      st.rec.duplicates = (st.rec.duplicates ?? 0) + 1;
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
    if (!msg.hist) this.#clock?.observe(rec.src, m.receivedAt, msg.sent);
    const clockNow = this.#clock?.get(rec.src);
    const ref: MessageRef = { epoch: msg.epoch, seq: msg.seq };
    let tsMin = Infinity;
    let tsMax = -Infinity;
    let conv: [string, number, number][] | undefined;
    let fed: (readonly Frame[])[] | undefined;
    let lastFrames: readonly Frame[] | undefined;
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
      if (info.k !== undefined) {
        // normalise with the dictionary; lineage keeps the raw value (the message itself stays as received)
        const raw = s.v as number;
        s.v = raw * info.k + info.c!;
        (conv ??= []).push([s.tag, s.ts, raw]);
      }
      if (s.ts < tsMin) tsMin = s.ts;
      if (s.ts > tsMax) tsMax = s.ts;
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
      const frames = applySample(this.#scope, rec, info.unit, s, clampTs);
      if (frames !== lastFrames && frames.length > 0) (fed ??= []).push((lastFrames = frames));
      if (s.ts > maxTs) maxTs = Math.min(s.ts, clampTs);
      st.counts.samples++;
    }
    if (maxTs > -Infinity) rec.maxTs = maxTs;
    rec.samples += msg.samples.length - (unknown?.length ?? 0) - (mistyped?.length ?? 0);
    st.counts.messages++;
    // frame → messages (addSeq is idempotent); a frame final for this source counted the sample as late instead
    if (fed) for (const list of fed) for (const f of list) if (rec.frames[f.id]) noteMessage(rec, f.id, ref);
    const n = msg.samples.length - (unknown?.length ?? 0) - (mistyped?.length ?? 0);
    if (n > 0) this.#noteRecent(rec.src, ref, tsMin, tsMax);
    const lm: LineageMessage = {
      seq: msg.seq,
      streamSeq: m.streamSeq,
      sent: msg.sent,
      receivedAt: m.receivedAt,
      n,
      tsMin: n > 0 ? tsMin : 0,
      tsMax: n > 0 ? tsMax : 0,
    };
    if (m.msgId) lm.msgId = m.msgId;
    if (msg.hist) lm.hist = true;
    if (msg.ctx) lm.ctx = msg.ctx;
    if (msg.dict) lm.dict = msg.dict;
    if (clockNow) {
      lm.off = clockNow.offsetMs;
      if (clockNow.skewed) lm.skew = true;
    }
    if (conv) lm.conv = conv;
    this.lineage.add(rec.src, msg.epoch, lm);
    if (!msg.hist) this.#noteSkew(rec, clockNow, n > 0 ? tsMin : undefined, tsMax);
    if (unknown) this.rejections.push(unknownTags(m, msg, unknown));
    if (mistyped) this.rejections.push(wrongTypes(m, msg, mistyped, (tag) => this.#tags.get(tag)!.dataType));
  }

  /**
   * Annotates (never rewrites) the source time covered by live samples that arrived while the source's clock was
   * flagged skewed: one period per skew episode, extended message by message.
   */
  #noteSkew(rec: SourceRecord, clock: ReturnType<ClockBook['get']>, from: number | undefined, to: number): void {
    const skews = (rec.skews ??= []);
    const last = skews[skews.length - 1];
    if (!clock?.skewed) {
      if (last?.open) delete last.open;
      return;
    }
    if (from === undefined) return;
    if (last?.open && last.since === clock.since) {
      if (from < last.from) last.from = from;
      if (to > last.to) last.to = to;
      if (Math.abs(clock.offsetMs) > Math.abs(last.offsetMs)) last.offsetMs = clock.offsetMs;
      return;
    }
    if (last?.open) delete last.open;
    skews.push({ from, to, offsetMs: clock.offsetMs, since: clock.since ?? clock.at, open: true });
    if (skews.length > MAX_SKEWS) skews.splice(0, skews.length - MAX_SKEWS);
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

  /** Remembers which recent message covered which source time, so a backfilled frame can name its messages. */
  #noteRecent(src: string, ref: MessageRef, tsMin: number, tsMax: number): void {
    this.#recent.push({ src, ref, tsMin, tsMax });
  }

  /** Names the recent messages whose source-time span meets a backfilled frame (a superset; lineage checks each). */
  #backfillMessages(frame: Frame): void {
    const feeds = this.#unitSources.get(frame.unit);
    for (const r of this.#recent) {
      if (r.tsMax < frame.start || (frame.end !== undefined && r.tsMin >= frame.end) || !feeds?.has(r.src)) continue;
      const rec = this.states.get(r.src)?.rec;
      if (rec?.frames[frame.id]) noteMessage(rec, frame.id, r.ref);
    }
  }

  /** Applies a frame as seen on the frames bucket: backfills a new one, cuts one whose end became known. */
  applyFrame(frame: Frame): FrameChange | undefined {
    const change = this.index.upsert(frame);
    if (!change) return undefined;
    let exact = true;
    if (change.type === 'opened') {
      exact = backfill(this.#scope, frame);
      this.#backfillMessages(frame);
    }
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
    let horizon = Infinity;
    for (const [unit, buf] of this.#buffers) {
      buf.evict(this.#lateBufferMs, this.#bufferCap, (s) => sealSample(this.#scope, unit, s));
      if (buf.size > 0) horizon = Math.min(horizon, buf.horizon);
    }
    // keep the message spans as far back as any buffer reaches (bounded like the buffers)
    if (horizon === Infinity) this.#recent = [];
    else if (this.#recent.length > 0 && this.#recent[0]!.tsMax < horizon) this.#recent = this.#recent.filter((r) => r.tsMax >= horizon);
    if (this.#recent.length > this.#bufferCap) this.#recent.splice(0, this.#recent.length - this.#bufferCap);
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
        if (end === undefined || rec.maxTs < end) continue;
        const msgs = rec.frameMsgs?.[id];
        out.push({ frame: id, src: rec.src, end, tags, finalisedAt: now, ...(msgs ? { msgs } : {}) });
      }
    }
    return out;
  }

  /** Drops finalised aggregates from their records (after they were stored under `agg.*`). */
  finalised(aggregates: FinalAggregate[]): void {
    for (const a of aggregates) {
      const st = this.states.get(a.src)!;
      delete st.rec.frames[a.frame];
      if (st.rec.frameMsgs) delete st.rec.frameMsgs[a.frame];
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
