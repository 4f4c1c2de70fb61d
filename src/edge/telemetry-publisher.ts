import type { JetStreamClient } from '@nats-io/jetstream';
import { decode, encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { MemoryBuffer, type TelemetryBuffer } from './buffer/telemetry-buffer.ts';
import type { IndexEntry } from './buffer/recover.ts';
import type { Sample } from './opcua-source.ts';
import type { SequenceStore } from './sequence-store.ts';
import { PhaselineError } from '../errors.ts';

/** A sealed telemetry message as it is written ahead to the buffer (CONTRACT.md §5.1, without `hist`). */
export interface SealedMessage {
  src: string;
  epoch: string;
  seq: number;
  ctx?: Record<string, string>;
  sent: number;
  samples: Sample[];
}

/** Options of {@link TelemetryPublisher}. */
export interface TelemetryPublisherOptions {
  /** The JetStream client, or a getter that has none while the edge has not reached NATS yet. */
  js: JetStreamClient | (() => JetStreamClient | undefined);
  src: string;
  store: SequenceStore;
  /**
   * The write-ahead store-and-forward buffer ({@link DiskBuffer}): every message is durable here before it is
   * published. Without one the publisher keeps an in-memory buffer (lost on restart) and says so at start.
   */
  buffer?: TelemetryBuffer;
  intervalMs: number;
  /** The context ids to stamp on the next message, if any. */
  ctx(): Record<string, string> | undefined;
  log: Logger;
  metrics: Metrics;
  maxSamples?: number;
  /** Samples held in memory while a full buffer (policy `block`) refuses appends; beyond this they are refused and counted. */
  maxHeldSamples?: number;
  publishTimeoutMs?: number;
  /** Publishes in flight at once (pipelining, both live and replay). */
  window?: number;
  /** Backlog messages sent between two looks at live data: the backlog never blocks the present for longer. */
  replayBatch?: number;
  /** Called once a message is durable in the buffer (the collector's acknowledgement); tests keep a ground truth with it. */
  onDurable?(msg: SealedMessage): void;
}

type Job = { rid: number; data: Uint8Array; msgId: string; hist: boolean; samples: number };
type Resolved = Required<Omit<TelemetryPublisherOptions, 'onDurable' | 'js' | 'buffer'>> &
  Pick<TelemetryPublisherOptions, 'onDurable'> & { buffer: TelemetryBuffer };

/**
 * Batches samples into telemetry messages on `tlm.<src>` (CONTRACT.md §5.1) with store-and-forward: each message gets
 * the next durable seq and is written ahead to the disk buffer, then published with `Nats-Msg-Id: <src>:<epoch>:<seq>`
 * and trimmed from the buffer when JetStream acknowledges it. While NATS is unreachable messages accumulate on disk;
 * afterwards the backlog is replayed in order with `hist: true`, interleaved with live messages.
 */
export class TelemetryPublisher {
  readonly #o: Resolved;
  readonly #js: () => JetStreamClient | undefined;
  #batch: Sample[] = [];
  #flushChain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #halted = false;
  #healthy = true;
  /** Records from this id on are published live (from memory); older unacknowledged ones are backlog. */
  #liveFrom: number;
  #live: Job[] = [];
  #cursor = 0;
  /** Publishes awaiting their ack, by record id, with the generation they were sent in (an outage starts a new one). */
  readonly #inflight = new Map<number, number>();
  #gen = 0;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #backoffMs = 250;
  #blocked = false;

  constructor(o: TelemetryPublisherOptions) {
    const { js, buffer, ...rest } = o;
    const defaults = { maxSamples: 500, maxHeldSamples: 100_000, publishTimeoutMs: 5000, window: 1000, replayBatch: 128 };
    this.#o = { ...defaults, ...rest, buffer: buffer ?? this.#memoryBuffer(o) };
    this.#js = typeof js === 'function' ? js : () => js;
    this.#liveFrom = this.#o.buffer.nextRid;
    // Offline until a JetStream client exists (an edge that started while NATS was unreachable): as in an outage,
    // everything sealed is backlog, replayed with `hist: true` once the client is there and nudge() is called.
    if (!this.#js()) {
      this.#healthy = false;
      this.#liveFrom = Infinity;
    }
  }

  #memoryBuffer(o: TelemetryPublisherOptions): MemoryBuffer {
    o.log.warn({ src: o.src }, 'no disk buffer given: store-and-forward in memory only (lost on restart)');
    return new MemoryBuffer(10_000, (rid) => {
      o.metrics.inc('phaseline_edge_buffer_dropped_records_total', { src: o.src }, 1, 'Buffer records dropped on overflow');
      o.log.error({ rid }, 'ALARM in-memory telemetry buffer full: oldest message dropped');
    });
  }

  /** Starts the periodic flush and the publishing loop (which first replays what the buffer held at start). */
  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#o.intervalMs);
    this.#loop = this.#run();
  }

  /** Buffers one sample; a full batch is flushed at once. */
  add(sample: Sample): void {
    if (this.#stopped) return;
    const { src, metrics } = this.#o;
    if (this.#batch.length >= this.#o.maxHeldSamples) {
      metrics.inc('phaseline_edge_dropped_samples_total', { src, reason: 'buffer_full' }, 1, 'Samples refused at the source');
      return;
    }
    this.#batch.push(sample);
    metrics.inc('phaseline_edge_samples_total', { src }, 1, 'Samples collected');
    if (this.#batch.length >= this.#o.maxSamples) void this.flush();
  }

  /** Tells the publisher NATS is back (a reconnect, or the first connection): the next attempt is made at once instead of after the backoff. */
  nudge(): void {
    this.#backoffMs = 250;
    // Publishes still waiting went to the server that went away: replay from the oldest unacknowledged at once.
    if (this.#inflight.size > 0) this.#outage();
    this.#wake?.();
  }

  /** Telemetry messages in the disk buffer waiting to be acknowledged by JetStream. */
  get depth(): number {
    return this.#o.buffer.depth;
  }

  /** Edge time at which the oldest unacknowledged message was sealed. */
  get oldestQueuedAt(): number | undefined {
    return this.#o.buffer.oldestAt;
  }

  /** Seals the batched samples into one message, durable in the buffer before this resolves. */
  flush(): Promise<void> {
    this.#flushChain = this.#flushChain.then(() => this.#seal()).catch((err) => {
      this.#o.log.error({ err }, 'sealing a telemetry message failed: samples kept for the next attempt');
    });
    return this.#flushChain;
  }

  /** Seals what is batched, publishes for up to `graceMs`, then stops; anything unpublished stays in the buffer. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
    this.#stopped = true;
    const deadline = Date.now() + graceMs;
    while (this.#healthy && (this.#live.length > 0 || this.#inflight.size > 0) && Date.now() < deadline) await sleep(20);
    this.#halted = true;
    this.#wake?.();
    await this.#loop;
    // Acks still on their way are worth waiting for (each trims the buffer); the rest is replayed at the next start.
    while (this.#inflight.size > 0 && Date.now() < deadline + this.#o.publishTimeoutMs) await sleep(20);
    if (this.depth > 0) this.#o.log.info({ buffered: this.depth }, 'telemetry left in the disk buffer for the next start');
  }

  async #seal(): Promise<void> {
    if (this.#batch.length === 0) return;
    const { src, store, buffer, metrics, log } = this.#o;
    if (buffer.policy === 'block' && !buffer.hasRoom(this.#batch.length * 40)) {
      if (!this.#blocked) log.error({ held: this.#batch.length }, 'ALARM buffer full (policy block): holding samples at the source');
      this.#blocked = true;
      metrics.inc('phaseline_edge_buffer_blocked_total', { src }, 1, 'Seals deferred because the buffer was full (policy block)');
      return;
    }
    this.#blocked = false;
    const samples = this.#batch;
    this.#batch = [];
    let msg: SealedMessage;
    let data: Uint8Array;
    let rid: number;
    try {
      const seq = await store.next();
      const ctx = this.#o.ctx();
      msg = { src, epoch: store.epoch, seq, ...(ctx ? { ctx } : {}), sent: Date.now(), samples };
      data = encode(msg);
      rid = await buffer.append(data, msg.sent);
    } catch (err) {
      // Not durable: nothing was acknowledged. A seq minted here is never published: the runtime reports the gap.
      this.#batch = samples.concat(this.#batch);
      throw err;
    }
    this.#o.onDurable?.(msg);
    if (rid >= this.#liveFrom && this.#healthy) {
      this.#live.push({ rid, data, msgId: msgId(msg), hist: false, samples: samples.length });
      this.#wake?.();
    }
  }

  async #run(): Promise<void> {
    while (!this.#halted) {
      try {
        if (!this.#healthy) await this.#recover();
        else if (!(await this.#round())) await this.#idle(1000);
      } catch (err) {
        this.#o.log.error({ err }, 'telemetry publishing loop error');
        await sleep(250);
      }
    }
  }

  /** One round: the live messages waiting, then at most one batch of backlog. Returns false when there was nothing. */
  async #round(): Promise<boolean> {
    const live = this.#live.splice(0);
    const entries = this.#o.buffer.entries(this.#cursor, this.#o.replayBatch, (rid) => this.#inflight.has(rid) || rid >= this.#liveFrom);
    const backlog = entries.length > 0 ? await this.#replayJobs(entries) : [];
    if (entries.length > 0) this.#cursor = entries.at(-1)!.rid + 1;
    for (const job of [...live, ...backlog]) {
      if (!this.#healthy || this.#halted) return true;
      await this.#slot();
      this.#send(job);
    }
    return live.length + backlog.length > 0;
  }

  async #replayJobs(entries: IndexEntry[]): Promise<Job[]> {
    const records = await this.#o.buffer.read(entries);
    const jobs: Job[] = [];
    for (const r of records) {
      try {
        const msg = decode(r.payload) as SealedMessage;
        jobs.push({ rid: r.rid, data: markHistorical(r.payload, msg), msgId: msgId(msg), hist: true, samples: msg.samples.length });
      } catch (err) {
        // CRC-checked, so this is a record of another format: reported and counted, never published half-read.
        this.#o.log.error({ err, rid: r.rid }, 'buffered record is not a telemetry message: skipped');
        this.#o.metrics.inc('phaseline_edge_buffer_corrupt_records_total', { src: this.#o.src }, 1);
        this.#o.buffer.ack(r.rid);
      }
    }
    return jobs;
  }

  #send(job: Job): void {
    const js = this.#js();
    const { src, metrics } = this.#o;
    const gen = this.#gen;
    this.#inflight.set(job.rid, gen);
    const settle = () => this.#inflight.get(job.rid) === gen && this.#inflight.delete(job.rid);
    const sent = js
      ? js.publish(subjects.telemetry(src), job.data, { msgID: job.msgId, timeout: this.#o.publishTimeoutMs })
      : Promise.reject(new PhaselineError('ERR_EDGE_NOT_CONNECTED', 'NATS not connected yet'));
    sent.then(
      () => {
        settle();
        this.#o.buffer.ack(job.rid);
        metrics.inc('phaseline_edge_messages_total', { src, hist: String(job.hist) }, 1, 'Telemetry messages acknowledged by JetStream');
        this.#wake?.();
      },
      (err: unknown) => {
        settle();
        metrics.inc('phaseline_edge_publish_failures_total', { src }, 1, 'Telemetry publishes that failed (kept in the buffer)');
        if (gen !== this.#gen) return; // an outage already declared: the record is replayed from the buffer
        this.#o.log.warn({ err: (err as Error).message, msgId: job.msgId }, 'telemetry publish failed: buffering on disk');
        this.#outage();
      },
    );
  }

  /** Everything unacknowledged is backlog from now on; publishes in flight are forgotten (their acks still trim). */
  #outage(): void {
    this.#gen++;
    this.#inflight.clear();
    this.#healthy = false;
    this.#liveFrom = Infinity;
    this.#live = [];
    this.#wake?.();
  }

  /** While NATS is unreachable: wait, then re-send the oldest buffered message; its ack ends the outage. */
  async #recover(): Promise<void> {
    await this.#idle(this.#backoffMs);
    if (this.#halted) return;
    this.#backoffMs = Math.min(this.#backoffMs * 2, 5000);
    const [head] = this.#o.buffer.entries(0, 1);
    if (head) {
      const [job] = await this.#replayJobs([head]);
      const js = this.#js();
      if (!job || !js) return;
      try {
        await js.publish(subjects.telemetry(this.#o.src), job.data, { msgID: job.msgId, timeout: this.#o.publishTimeoutMs });
      } catch {
        return;
      }
      this.#o.buffer.ack(job.rid);
    } else if (!this.#js()) return;
    this.#backoffMs = 250;
    this.#cursor = 0;
    this.#liveFrom = this.#o.buffer.nextRid;
    this.#healthy = true;
    this.#o.log.info({ backlog: this.#o.buffer.depth }, 'telemetry publishing again: replaying the backlog');
  }

  #slot(): Promise<void> {
    if (this.#inflight.size < this.#o.window) return Promise.resolve();
    return this.#idle(this.#o.publishTimeoutMs).then(() => this.#slot());
  }

  /** Waits up to `ms` or until woken (new live data, an ack, a failure, stop). Only the loop waits here. */
  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        if (this.#wake === wake) this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.#wake = wake;
    });
  }
}

const HIST = encode({ hist: true }).subarray(1); // the key and value, without the map header

/**
 * The replayed form of a buffered message: `hist: true` added. The edge writes fixmaps (< 15 keys), so the key is
 * appended and the header's count raised, without re-encoding the samples; anything else is re-encoded.
 */
export function markHistorical(payload: Uint8Array, msg: SealedMessage): Uint8Array {
  const head = payload[0]!;
  if (head >= 0x80 && head < 0x8f && !('hist' in msg)) {
    const out = new Uint8Array(payload.length + HIST.length);
    out.set(payload);
    out.set(HIST, payload.length);
    out[0] = head + 1;
    return out;
  }
  return encode({ ...msg, hist: true });
}

const msgId = (m: Pick<SealedMessage, 'src' | 'epoch' | 'seq'>) => `${m.src}:${m.epoch}:${m.seq}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
