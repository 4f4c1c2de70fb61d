import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { ZodType } from 'zod';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode, encode } from '../../nats/codec.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { logger, type Logger } from '../log.ts';
import { resetAtAckFloor } from '../../nats/consumers.ts';
import type { Metrics } from '../metrics.ts';
import { onContext, onPhaseEvent, type PhaseCursor, type Step, type UnitCursor } from './frame-rules.ts';
import { frameKeys, putFrame, type Frame } from './frame-store.ts';
import { ContextMessageSchema } from '../../nats/context.schema.ts';
import { TransitionEventSchema } from '../../nats/event.schema.ts';
import { describeIssues } from '../../nats/telemetry.schema.ts';
import { PhaselineError } from '../errors.ts';

/** Ports of the frame tracker. */
export interface FrameTrackerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The frames bucket. */
  kv: KV;
  config: PlantConfig;
  metrics: Metrics;
  log?: Logger;
}

/** A running frame tracker. */
export interface FrameTracker {
  stop(): Promise<void>;
  /** Resolves once every EVENTS/CONTEXT message now stored is applied; gives the last frames revision written. */
  idle(): Promise<number>;
}

interface Feed {
  stream: 'EVENTS' | 'CONTEXT';
  durable: string;
  filter: string;
  consumer?: Consumer;
  iter?: ConsumerMessages;
  done: number;
  loop?: Promise<void>;
}

/**
 * Maintains event frames (batch, unit procedure, operation, phase) in the frames bucket from phase transitions on
 * EVENTS and MES context on CONTEXT, each through its own durable consumer. Every step is deterministic given the
 * stored cursor and the message, and the cursor is written after the frames, so a redelivery rewrites the same
 * values (idempotent).
 */
export async function startFrameTracker(o: FrameTrackerOptions): Promise<FrameTracker> {
  const log = o.log ?? logger('frames');
  const phases = new Map(o.config.phases.map((p) => [p.id, p.unit]));
  const units = new Set(o.config.units.map((u) => u.id));
  const unitCursors = new Map<string, UnitCursor>();
  const phaseCursors = new Map<string, PhaseCursor>();
  let revision = 0;
  let stopping = false;

  async function cursor<C>(cache: Map<string, C>, key: string, blank: C): Promise<C> {
    const hit = cache.get(key);
    if (hit) return hit;
    const e = await o.kv.get(key);
    const c = e && e.operation === 'PUT' && e.value.length > 0 ? (decode(e.value) as C) : blank;
    cache.set(key, c);
    return c;
  }

  type Cursor = { lastStreamSeq: number };
  async function store<C extends Cursor>(map: Map<string, C>, key: string, step: Step<C>, seq: number) {
    const revs = await Promise.all(step.frames.map((f: Frame) => putFrame(o.kv, f)));
    revision = Math.max(revision, ...revs);
    step.cursor.lastStreamSeq = seq;
    await o.kv.put(key, encode(step.cursor));
    map.set(key, step.cursor);
    o.metrics.inc('phaseline_frames_written_total', {}, step.frames.length, 'Event frame records written');
  }

  async function parse<T>(m: JsMsg, stream: string, schema: ZodType<T>): Promise<T | undefined> {
    let raw: unknown;
    let problem: { reason: string; detail: string };
    try {
      raw = decode(m.data);
      const r = schema.safeParse(raw);
      if (r.success) return r.data;
      problem = { reason: 'invalid', detail: describeIssues(r.error) };
    } catch (err) {
      problem = { reason: 'malformed', detail: `not MessagePack: ${(err as Error).message}` };
    }
    log.warn({ subject: m.subject, seq: m.seq, ...problem }, 'frame source message rejected');
    const letter = { ...problem, subject: m.subject, data: m.data, stream, streamSeq: m.seq };
    await deadLetter(o.js, o.metrics, letter, `dlq:${stream}:${m.seq}`);
    return undefined;
  }

  async function handlePhase(m: JsMsg): Promise<void> {
    const ev = await parse(m, 'EVENTS', TransitionEventSchema);
    if (!ev) return;
    const unit = phases.get(ev.actor);
    if (!unit) return void log.warn({ actor: ev.actor, seq: m.seq }, 'phase event for a phase not in config: no frame');
    const key = frameKeys.phaseCursor(ev.actor);
    const cur = await cursor<PhaseCursor>(phaseCursors, key, { lastStreamSeq: 0, lastEventSeq: -1 });
    if (m.seq <= cur.lastStreamSeq) return;
    const batchId = (await cursor<UnitCursor>(unitCursors, frameKeys.unitCursor(unit), blankUnit())).batch?.batchId;
    const step = onPhaseEvent(cur, ev, unit, batchId, `EVENTS:${m.seq}`);
    if (step) await store(phaseCursors, key, step, m.seq);
  }

  async function handleContext(m: JsMsg): Promise<void> {
    const c = await parse(m, 'CONTEXT', ContextMessageSchema);
    if (!c) return;
    if (!units.has(c.unit)) return void log.warn({ unit: c.unit, seq: m.seq }, 'context for an unknown unit: no frame');
    const key = frameKeys.unitCursor(c.unit);
    const cur = await cursor<UnitCursor>(unitCursors, key, blankUnit());
    if (m.seq <= cur.lastStreamSeq) return;
    const step = onContext(cur, c, `CONTEXT:${m.seq}`);
    if (step) await store(unitCursors, key, step, m.seq);
  }

  async function run(feed: Feed, handle: (m: JsMsg) => Promise<void>): Promise<void> {
    feed.iter = await feed.consumer!.consume({ max_messages: 64 });
    for await (const m of feed.iter) {
      for (let backoff = 50; ; backoff = Math.min(backoff * 2, 5000)) {
        try {
          await handle(m);
          break;
        } catch (err) {
          if (stopping) return; // unacknowledged: redelivered to the next tracker
          log.error({ err, stream: feed.stream, seq: m.seq }, 'frame update failed; retrying');
          await new Promise((r) => setTimeout(r, backoff));
        }
      }
      m.ack();
      feed.done = m.seq;
    }
  }

  const feeds: Feed[] = [
    { stream: 'EVENTS', durable: 'frames-phase', filter: 'evt.phase.>', done: 0 },
    { stream: 'CONTEXT', durable: 'frames-context', filter: 'ctx.>', done: 0 },
  ];
  for (const feed of feeds) {
    const { stream, durable, filter } = feed;
    const spec = { stream, durable, filter, ackWaitMs: 60_000, maxAckPending: 256 };
    const { consumer, floor } = await resetAtAckFloor(o.jsm, spec);
    feed.consumer = consumer;
    feed.done = floor;
  }
  feeds[0]!.loop = run(feeds[0]!, handlePhase).catch((err) => log.error({ err }, 'phase frame feed stopped'));
  feeds[1]!.loop = run(feeds[1]!, handleContext).catch((err) => log.error({ err }, 'context frame feed stopped'));

  return {
    async stop() {
      stopping = true;
      for (const f of feeds) f.iter?.stop();
      await Promise.all(feeds.map((f) => f.loop));
    },
    async idle() {
      for (const f of feeds) {
        for (;;) {
          const info = await f.consumer!.info();
          if (info.num_pending === 0 && (info.num_ack_pending === 0 || f.done >= info.delivered.stream_seq)) break;
          if (stopping) throw new PhaselineError('ERR_COMPONENT_STOPPED', 'frame tracker stopped');
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      return revision;
    },
  };
}

function blankUnit(): UnitCursor {
  return { lastSeq: -1, lastStreamSeq: 0 };
}
