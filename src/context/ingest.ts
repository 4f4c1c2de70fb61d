import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode } from '../../nats/codec.ts';
import type { Buckets } from '../../nats/streams.ts';
import { MSG_ID } from '../../nats/subjects.ts';
import { logger, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Contextualiser } from './contextualiser.ts';
import { resetAtAckFloor } from '../../nats/consumers.ts';
import { frameKeys, type Frame } from './frame-store.ts';
import { startFrameTracker, type FrameTracker } from './frames.ts';
import { startHeartbeats, type LiveState } from './heartbeats.ts';
import { describeIngestMetrics, flushIngestMetrics } from './ingest-metrics.ts';
import { loadCore, publishOutbox } from './ingest-io.ts';
import { saveRecord } from './source-record.ts';
import { ClockBook } from './clock.ts';
import { storeDictionary } from './lineage.ts';
import { PhaselineError } from '../errors.ts';

/** Ports and settings of the contextualiser's ingest. */
export interface IngestOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  config: PlantConfig;
  metrics: Metrics;
  log?: Logger;
  now?: () => number;
  /** Durable consumer name on TELEMETRY (default `contextualiser`). */
  consumerName?: string;
  /** Start the frame tracker in-process (default true); `idle()` then also waits for it. */
  frameTracker?: boolean;
  /** Ack wait of the TELEMETRY consumer (default 5 min): far above the time a batch can take. */
  ackWaitMs?: number;
  /** Samples kept per unit for backfill (default 500,000). */
  bufferCap?: number;
  /** Housekeeping period: gap expiry, buffer eviction, finalisation (default 1 s). */
  tickMs?: number;
  /** Test seam: a hook that throws acts as a crash at that point (nothing after it runs; nothing is acknowledged). */
  faults?: { beforeCommit?: () => void; beforeAck?: () => void };
}

/** A running ingest. */
export interface Ingest {
  stop(): Promise<void>;
  /** Resolves once everything currently in TELEMETRY (and EVENTS/CONTEXT frames) is committed. */
  idle(): Promise<void>;
  /** Heartbeat state per source, for `listSources`. */
  live: LiveState;
  /** Clock offset and drift estimates per source (heartbeats and live messages). */
  clock: ClockBook;
}

type Waiter = { target: number; resolve: () => void; reject: (err: Error) => void };
type Queued = { m: JsMsg; rt: number };

/** Messages processed between two yields to the event loop. */
const YIELD_EVERY = 32;

class SimulatedCrash extends Error {}

/**
 * Starts the contextualiser's telemetry ingest (DESIGN.md principle 5): one durable pull consumer on TELEMETRY,
 * batches applied by the {@link Contextualiser} core, then dead letters, PLC state inputs and final aggregates
 * published, then one compare-and-set per touched source record, then the acknowledgements. A crash anywhere
 * leaves each `(src, epoch, seq)` applied exactly once (CONTRACT.md §5.1; 21 CFR 11.10(a) accurate and complete
 * records).
 */
export async function startIngest(options: IngestOptions): Promise<Ingest> {
  const ingest = new IngestRunner(options);
  await ingest.start();
  return { stop: () => ingest.stop(), idle: () => ingest.idle(), live: ingest.live, clock: ingest.clock };
}

class IngestRunner {
  readonly live: LiveState = new Map();
  readonly clock: ClockBook;
  readonly #o: IngestOptions & { clock: ClockBook };
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #name: string;
  readonly #batchSize: number;
  #core!: Contextualiser;
  #messages: ConsumerMessages | undefined;
  #watch: { stop(): void } | undefined;
  #tracker: FrameTracker | undefined;
  #heartbeats: { stop(): void } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #queue: Queued[] = [];
  #frames: Frame[] = [];
  #watchRev = 0;
  #doneSeq = 0;
  /** Set by the timer and by `idle()`: run a cycle even without new messages. */
  #kick = false;
  #stopping = false;
  #failed: Error | undefined;
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();
  readonly #waiters: Waiter[] = [];

  constructor(o: IngestOptions) {
    this.clock = new ClockBook(o.config.runtime.clock ?? {});
    this.#o = { ...o, clock: this.clock };
    this.#log = o.log ?? logger('ingest');
    this.#now = o.now ?? Date.now;
    this.#name = o.consumerName ?? 'contextualiser';
    this.#batchSize = o.config.runtime.ingest.batchSize;
  }

  async start(): Promise<void> {
    describeIngestMetrics(this.#o.metrics);
    const { nc, js, config, metrics } = this.#o;
    const clock = this.clock;
    this.#heartbeats = startHeartbeats({ nc, js, config, metrics, log: this.#log, now: this.#now, live: this.live, clock });
    if (this.#o.frameTracker !== false) {
      this.#tracker = await startFrameTracker({ ...this.#o, kv: this.#o.buckets.frames, log: this.#log });
    }
    await this.#boot();
    this.#timer = setInterval(() => ((this.#kick = true), this.#wake()), this.#o.tickMs ?? 1000);
    this.#timer.unref?.();
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#wake();
    await this.#loop;
    this.#teardown();
    this.#heartbeats?.stop();
    await this.#tracker?.stop();
    this.#rejectAll(new PhaselineError('ERR_COMPONENT_STOPPED', 'ingest stopped'));
  }

  async idle(): Promise<void> {
    this.#alive();
    const rev = this.#tracker ? await this.#tracker.idle() : 0;
    const { first_seq, last_seq: target } = (await this.#o.jsm.streams.info('TELEMETRY')).state;
    this.#doneSeq = Math.max(this.#doneSeq, first_seq - 1); // purged or expired messages are nothing to wait for
    while (this.#watchRev < rev) {
      this.#alive();
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#alive();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject });
      this.#kick = true;
      this.#wake();
    });
  }

  /** Throws once the ingest is stopped or halted (so no waiter is left behind). */
  #alive(): void {
    if (this.#failed || this.#stopping) throw this.#failed ?? new PhaselineError('ERR_COMPONENT_STOPPED', 'ingest stopped');
  }

  /** Loads committed state (records, frames, final aggregates), then starts the frames watch and the consumer. */
  async #boot(): Promise<void> {
    const { buckets } = this.#o;
    const { core, revision: rev0 } = await loadCore(this.#o, this.#log);
    this.#core = core;
    await storeDictionary(this.#o.buckets.lineage, core.dictionary, this.#o.config.version);
    this.#watchRev = Math.max(this.#watchRev, rev0);
    const watch = await buckets.frames.watch({
      key: frameKeys.frames,
      resumeFromRevision: rev0 + 1,
      ignoreDeletes: true,
    });
    this.#watch = watch;
    void this.#follow(watch);
    await this.#resetConsumer();
    this.#o.metrics.set('phaseline_frames_open', {}, core.index.openCount());
  }

  async #follow(watch: AsyncIterable<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of watch) {
        if (e.operation === 'PUT' && e.value.length > 0) this.#frames.push(decode(e.value) as Frame);
        this.#watchRev = Math.max(this.#watchRev, e.revision);
        this.#wake();
      }
    } catch (err) {
      if (!this.#stopping) this.#log.error({ err }, 'frames watch ended');
    }
  }

  /** Recreates the TELEMETRY consumer at its ack floor and starts consuming into the queue. */
  async #resetConsumer(): Promise<void> {
    const spec = {
      stream: 'TELEMETRY',
      durable: this.#name,
      filter: 'tlm.>',
      ackWaitMs: this.#o.ackWaitMs ?? 300_000,
      maxAckPending: this.#batchSize * 4,
    };
    const { consumer, floor } = await resetAtAckFloor(this.#o.jsm, spec);
    this.#doneSeq = Math.max(this.#doneSeq, floor);
    this.#messages = await consumer.consume({
      max_messages: this.#batchSize,
      callback: (m) => {
        this.#queue.push({ m, rt: this.#now() });
        if (this.#queue.length === 1 || this.#queue.length >= this.#batchSize) this.#wake();
      },
    });
  }

  #teardown(): void {
    this.#messages?.stop();
    this.#watch?.stop();
    this.#queue = [];
    this.#frames = [];
  }

  #wake(): void {
    const w = this.#wakeUp;
    this.#wakeUp = undefined;
    w?.();
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || this.#frames.length > 0 || this.#kick;
  }

  async #run(): Promise<void> {
    let broken = false; // after a failure nothing runs until committed state is reloaded
    for (let backoff = 100; !this.#stopping; ) {
      if (!broken && !this.#hasWork()) await new Promise<void>((r) => (this.#wakeUp = r));
      if (this.#stopping) break;
      try {
        if (broken) {
          this.#teardown();
          await this.#boot();
          broken = false;
        }
        await this.#cycle();
        backoff = 100;
      } catch (err) {
        if (err instanceof SimulatedCrash || this.#o.nc.isClosed()) return this.#halt(err as Error);
        broken = true;
        this.#o.metrics.inc('phaseline_ingest_failures_total');
        this.#log.error({ err }, 'ingest cycle failed; reloading committed state');
        await new Promise((r) => setTimeout(r, (backoff = Math.min(backoff * 2, 5000))));
      }
    }
  }

  /** One group commit: frames, messages, housekeeping, publications, CAS writes, then acknowledgements. */
  async #cycle(): Promise<void> {
    const core = this.#core;
    const frames = this.#frames.splice(0);
    for (const f of frames) {
      const change = core.applyFrame(f);
      if (change?.type === 'moved') this.#log.warn({ frame: f.id }, 'frame window moved; aggregates left as they were');
    }
    const batch = this.#queue.splice(0, this.#batchSize);
    for (let i = 0; i < batch.length; i++) {
      const { m, rt } = batch[i]!;
      const msgId = m.headers?.get(MSG_ID);
      core.process({ subject: m.subject, data: m.data, streamSeq: m.seq, receivedAt: rt, ...(msgId ? { msgId } : {}) });
      // Ingest shares the event loop with HTTP and the actor host: give way every few messages so a large batch
      // never stalls an operator's request (nothing else touches `core` in between).
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((r) => setImmediate(r));
    }
    const now = this.#now();
    this.#kick = false;
    core.housekeeping(now, (src) => (this.live.get(src)?.bufferDepth ?? 0) > 0);
    const finals = core.finalisable(now);
    await publishOutbox(this.#o, core, finals, this.#log);
    core.finalised(finals);
    this.#fault('beforeCommit');
    const dirty = core.dirty();
    await Promise.all(
      dirty.map(async (st) => {
        st.revision = await saveRecord(this.#o.buckets.ingest, st.rec, st.revision);
        st.dirty = false;
      }),
    );
    this.#fault('beforeAck');
    for (const { m } of batch) {
      m.ack();
      if (m.seq > this.#doneSeq) this.#doneSeq = m.seq;
    }
    if (dirty.length) this.#o.metrics.inc('phaseline_ingest_commits_total', {}, dirty.length);
    flushIngestMetrics(this.#o.metrics, core, new Set(dirty.map((s) => s.def.id)), frames.length > 0, this.clock);
    this.#serveWaiters();
  }

  #fault(point: 'beforeCommit' | 'beforeAck'): void {
    try {
      this.#o.faults?.[point]?.();
    } catch (err) {
      throw new SimulatedCrash(`simulated crash ${point}`, { cause: err });
    }
  }

  #halt(err: Error): void {
    this.#failed = err;
    this.#log.error({ err }, 'ingest halted');
    this.#teardown();
    this.#rejectAll(err);
  }

  #serveWaiters(): void {
    if (this.#frames.length > 0) return;
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]!.target <= this.#doneSeq) this.#waiters.splice(i, 1)[0]!.resolve();
    }
  }

  #rejectAll(err: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}
