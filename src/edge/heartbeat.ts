import type { NatsConnection } from '@nats-io/transport-node';
import { encode } from '../../nats/codec.ts';
import type { Heartbeat } from '../../nats/heartbeat.schema.ts';
import { subjects } from '../../nats/subjects.ts';
import type { Logger } from '../log.ts';

/** What a collector tells about itself in a heartbeat, beside the buffer (CONTRACT.md §5.2 `hb.<src>`). */
export interface HeartbeatState {
  collector: 'ok' | 'degraded' | 'down';
  /** Extensions a tolerant reader ignores (e.g. `opcuaGap`). */
  extra?: Record<string, unknown>;
}

/**
 * Publishes `hb.<src>` now and every `intervalMs`: `{ src, epoch, sent, bufferDepth, oldestBufferedAt?, collector }`
 * (CONTRACT.md §5.2). Core publish: a heartbeat lost while NATS is away is replaced by the next one. `beat()` sends
 * one at once (e.g. when a gap opens), `stop()` ends the interval.
 */
export function startHeartbeat(o: {
  nc: NatsConnection;
  src: string;
  intervalMs: number;
  log: Logger;
  epoch: () => string;
  buffer: { depth: number; oldestQueuedAt: number | undefined };
  state: () => HeartbeatState;
}): { beat(): void; stop(): void } {
  const beat = () => {
    const oldest = o.buffer.oldestQueuedAt;
    const { collector, extra } = o.state();
    const hb: Heartbeat & Record<string, unknown> = {
      src: o.src, epoch: o.epoch(), sent: Date.now(), bufferDepth: o.buffer.depth,
      ...(oldest !== undefined ? { oldestBufferedAt: oldest } : {}), collector, ...extra,
    };
    try {
      o.nc.publish(subjects.heartbeat(o.src), encode(hb));
    } catch (err) {
      o.log.debug({ err: (err as Error).message }, 'heartbeat not sent');
    }
  };
  beat();
  const timer = setInterval(beat, o.intervalMs);
  return { beat, stop: () => clearInterval(timer) };
}

/** How long a buffer overflow keeps the source `degraded` in its heartbeats after the last one. */
const OVERFLOW_REPORT_MS = 15 * 60_000;

/**
 * Remembers the store-and-forward buffer's last overflow so heartbeats report it: the source is `degraded` and carries
 * `bufferOverflow: { at, policy, droppedRecords }` (an extension of CONTRACT.md §5.2) for 15 minutes after the last one,
 * beside the error log and counter the buffer raises itself — an overflow is never silent.
 */
export class OverflowFlag {
  #last: { at: number; policy: string; droppedRecords: number } | undefined;

  readonly onOverflow = (e: { policy: string; droppedRecords: number }): void => {
    this.#last = { at: Date.now(), policy: e.policy, droppedRecords: e.droppedRecords + (this.recent()?.droppedRecords ?? 0) };
  };

  recent(now = Date.now()): { at: number; policy: string; droppedRecords: number } | undefined {
    return this.#last && now - this.#last.at < OVERFLOW_REPORT_MS ? this.#last : undefined;
  }

  /** The heartbeat state with the overflow folded in. */
  apply(state: HeartbeatState): HeartbeatState {
    const o = this.recent();
    if (!o) return state;
    return { collector: state.collector === 'down' ? 'down' : 'degraded', extra: { ...state.extra, bufferOverflow: o } };
  }
}
