import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode } from '../../nats/codec.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { decodeId } from '../../nats/ids.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { HeartbeatSchema } from '../../nats/heartbeat.schema.ts';
import { describeIssues } from '../../nats/telemetry.schema.ts';
import type { ClockBook, ClockEstimate } from './clock.ts';

/** Sets the clock gauges of one source (the estimate when there is one). */
export function setClockGauges(m: Metrics, source: string, e: Partial<ClockEstimate> & { offsetMs: number }): void {
  m.set('phaseline_source_clock_offset_seconds', { source }, e.offsetMs / 1000);
  if (e.driftPpm !== undefined) m.set('phaseline_source_clock_drift_ratio', { source }, e.driftPpm / 1e6);
  if (e.skewed !== undefined) m.set('phaseline_source_clock_skewed', { source }, e.skewed ? 1 : 0);
}

/** What the runtime knows about a source right now from its heartbeats (not persisted). */
export interface SourceLive {
  lastHeartbeatAt: number;
  epoch: string;
  bufferDepth: number;
  oldestBufferedAt?: number;
  collector: 'ok' | 'degraded' | 'down';
  /** Receipt time minus the edge's `sent`: the edge clock's offset plus transit time. */
  clockOffsetMs: number;
}

/** Live state per source id. */
export type LiveState = Map<string, SourceLive>;

/**
 * Listens to `hb.<sourceId>` (core NATS, CONTRACT.md §5.2) and keeps each source's liveness, buffer depth and clock
 * offset; an invalid heartbeat is dead-lettered with its reason (DESIGN.md principle 9).
 */
export function startHeartbeats(o: {
  nc: NatsConnection;
  js: JetStreamClient;
  config: PlantConfig;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  live: LiveState;
  /** Receives (receipt time, sent) of every valid heartbeat for the offset/drift estimate. */
  clock?: ClockBook;
}): { stop(): void } {
  const sources = new Set(o.config.sources.map((s) => s.id));
  const reject = (subject: string, data: Uint8Array, reason: string, detail: string) => {
    o.log.warn({ subject, reason, detail }, 'heartbeat rejected');
    deadLetter(o.js, o.metrics, { reason, detail, subject, data }).catch((err) =>
      o.log.error({ err, subject }, 'dead-lettering a heartbeat failed'),
    );
  };
  const sub: Subscription = o.nc.subscribe('hb.>', {
    callback: (err, msg) => {
      if (err) return void o.log.error({ err }, 'heartbeat subscription error');
      const receivedAt = o.now();
      const src = decodeId(msg.subject.slice(3));
      if (!sources.has(src)) {
        return reject(msg.subject, msg.data, 'unknown_source', `${src} is not a configured source`);
      }
      let raw: unknown;
      try {
        raw = decode(msg.data);
      } catch (e) {
        return reject(msg.subject, msg.data, 'malformed', `not MessagePack: ${(e as Error).message}`);
      }
      const parsed = HeartbeatSchema.safeParse(raw);
      if (!parsed.success) return reject(msg.subject, msg.data, 'invalid', describeIssues(parsed.error));
      const hb = parsed.data;
      if (hb.src !== src) {
        return reject(msg.subject, msg.data, 'unknown_source', `src ${hb.src} differs from the subject's ${src}`);
      }
      const clockOffsetMs = receivedAt - hb.sent;
      o.clock?.observe(src, receivedAt, hb.sent);
      const estimate = o.clock?.get(src);
      o.live.set(src, {
        lastHeartbeatAt: receivedAt,
        epoch: hb.epoch,
        bufferDepth: hb.bufferDepth,
        ...(hb.oldestBufferedAt !== undefined ? { oldestBufferedAt: hb.oldestBufferedAt } : {}),
        collector: hb.collector,
        clockOffsetMs,
      });
      o.metrics.set('phaseline_source_buffer_depth', { source: src }, hb.bufferDepth);
      setClockGauges(o.metrics, src, estimate ?? { offsetMs: clockOffsetMs });
    },
  });
  return { stop: () => sub.unsubscribe() };
}
