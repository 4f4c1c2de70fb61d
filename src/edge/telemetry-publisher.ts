import type { JetStreamClient } from '@nats-io/jetstream';
import { encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Sample } from './opcua-source.ts';
import type { SequenceStore } from './sequence-store.ts';

/** Options of {@link TelemetryPublisher}. */
export interface TelemetryPublisherOptions {
  js: JetStreamClient;
  src: string;
  store: SequenceStore;
  intervalMs: number;
  /** The context ids to stamp on the next message, if any. */
  ctx(): Record<string, string> | undefined;
  log: Logger;
  metrics: Metrics;
  maxSamples?: number;
  /** Messages held in memory while NATS is unreachable; beyond this new samples are dropped and counted. */
  maxQueued?: number;
  publishTimeoutMs?: number;
}

interface Queued {
  msgId: string;
  seq: number;
  sent: number;
  samples: number;
  data: Uint8Array;
}

/**
 * Batches samples into telemetry messages on `tlm.<src>` (CONTRACT.md §5.1): each gets the next durable seq before
 * it is published with `Nats-Msg-Id: <src>:<epoch>:<seq>`, and a failed publish is retried in order with the same id.
 */
export class TelemetryPublisher {
  readonly #o: Required<Omit<TelemetryPublisherOptions, 'ctx'>> & Pick<TelemetryPublisherOptions, 'ctx'>;
  #buffer: Sample[] = [];
  readonly #queue: Queued[] = [];
  #flushChain: Promise<void> = Promise.resolve();
  #pumping: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #backoffMs = 250;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: TelemetryPublisherOptions) {
    this.#o = { maxSamples: 500, maxQueued: 10_000, publishTimeoutMs: 5000, ...o };
  }

  /** Starts the periodic flush. */
  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#o.intervalMs);
  }

  /** Buffers one sample; a full buffer is flushed at once. */
  add(sample: Sample): void {
    if (this.#stopped) return;
    this.#buffer.push(sample);
    this.#o.metrics.inc('phaseline_edge_samples_total', { src: this.#o.src }, 1, 'Samples collected');
    if (this.#buffer.length >= this.#o.maxSamples) void this.flush();
  }

  /** Telemetry messages waiting to be acknowledged by JetStream. */
  get depth(): number {
    return this.#queue.length;
  }

  /** Edge time at which the oldest unacknowledged message was stamped. */
  get oldestQueuedAt(): number | undefined {
    return this.#queue[0]?.sent;
  }

  /** Turns the buffered samples into one message (seq persisted first) and publishes what is queued. */
  flush(): Promise<void> {
    this.#flushChain = this.#flushChain.then(() => this.#stamp()).catch((err) => {
      this.#o.log.error({ err }, 'stamping a telemetry message failed');
    });
    return this.#flushChain.then(() => this.#pump());
  }

  /** Stops the timers, stamps what is buffered and tries for up to `graceMs` to publish the queue. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#flushChain = this.#flushChain.then(() => this.#stamp()).catch(() => undefined);
    await this.#flushChain;
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    const deadline = Date.now() + graceMs;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
    while (this.#queue.length > 0 && Date.now() < deadline) {
      // A publish in flight may wait for its own timeout: never let it hold the stop beyond the grace period.
      await Promise.race([this.#pump(true), sleep(deadline - Date.now())]);
      if (this.#queue.length > 0) await sleep(Math.min(100, deadline - Date.now()));
    }
    if (this.#queue.length > 0)
      this.#o.log.warn({ queued: this.#queue.length }, 'telemetry still queued at stop (in memory only: lost)');
  }

  async #stamp(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const { src, store, metrics, log } = this.#o;
    const samples = this.#buffer;
    this.#buffer = [];
    if (this.#queue.length >= this.#o.maxQueued) {
      // No seq is minted for dropped data: the stream of numbers stays gap-free, the loss is counted and logged.
      const labels = { src, reason: 'queue_full' };
      metrics.inc('phaseline_edge_dropped_samples_total', labels, samples.length, 'Samples dropped');
      log.error({ dropped: samples.length, queued: this.#queue.length }, 'telemetry queue full: samples dropped');
      return;
    }
    const seq = await store.next();
    const sent = Date.now();
    const ctx = this.#o.ctx();
    const msg = { src, epoch: store.epoch, seq, ...(ctx ? { ctx } : {}), sent, samples };
    this.#queue.push({ msgId: `${src}:${store.epoch}:${seq}`, seq, sent, samples: samples.length, data: encode(msg) });
    this.#gauge();
  }

  #gauge(): void {
    const help = 'Telemetry messages awaiting a JetStream ack';
    this.#o.metrics.set('phaseline_edge_buffer_depth', { src: this.#o.src }, this.#queue.length, help);
  }

  #pump(force = false): Promise<void> {
    if (this.#pumping) return this.#pumping;
    if (this.#retry && !force) return Promise.resolve();
    this.#pumping = this.#drain().finally(() => (this.#pumping = undefined));
    return this.#pumping;
  }

  async #drain(): Promise<void> {
    const { js, src, metrics, log } = this.#o;
    const subject = subjects.telemetry(src);
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      try {
        await js.publish(subject, head.data, { msgID: head.msgId, timeout: this.#o.publishTimeoutMs });
      } catch (err) {
        metrics.inc('phaseline_edge_publish_failures_total', { src }, 1, 'Telemetry publishes that failed (retried)');
        if (this.#backoffMs === 250) log.warn({ err, msgId: head.msgId }, 'telemetry publish failed: retrying in order');
        if (!this.#stopped) {
          if (this.#retry) clearTimeout(this.#retry);
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            void this.#pump();
          }, this.#backoffMs);
        }
        this.#backoffMs = Math.min(this.#backoffMs * 2, 5000);
        return;
      }
      if (this.#backoffMs > 250) log.info({ msgId: head.msgId }, 'telemetry publishing again');
      this.#backoffMs = 250;
      this.#queue.shift();
      metrics.inc('phaseline_edge_messages_total', { src }, 1, 'Telemetry messages acknowledged by JetStream');
      this.#gauge();
    }
  }
}
