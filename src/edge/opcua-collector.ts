import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { logger, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { startCommandExecutor } from './command-executor.ts';
import { ContextFollower } from './context-follower.ts';
import { resolveSecurity } from './opcua-security.ts';
import { connectOpcuaSource, type OpcuaGap, type OpcuaSourceInfo } from './opcua-source.ts';
import { PositionFile } from './opcua-position.ts';
import { SequenceStore } from './sequence-store.ts';
import { TelemetryPublisher, type SealedMessage } from './telemetry-publisher.ts';
import { openEdgeBuffer } from './buffer/open-edge-buffer.ts';
import { OverflowFlag, startHeartbeat } from './heartbeat.ts';
import { OpcuaConfigError } from '../errors.ts';

/** Options of {@link openOpcuaCollector}. */
export interface OpcuaCollectorOptions {
  config: PlantConfig;
  sourceId: string;
  /** `opc.tcp://…` of the OPC UA server (the simulator's `endpoint` in the demo). */
  endpoint: string;
  varDir: string;
  /** The client certificate store (default `<varDir>/pki/client`; IEC 62541-2 §6.1 trust lists). */
  pkiDir?: string;
  /** Wait between OPC UA connection attempts (default 1000 ms). */
  retryDelayMs?: number;
  /** Called when a lost OPC UA connection was restored: the window not collected live, and what history backfilled. */
  onGap?(gap: OpcuaGap): void;
  /** Called once a telemetry message is durable in the store-and-forward buffer (tests keep a ground truth with it). */
  onDurable?(msg: SealedMessage): void;
  log?: Logger;
  metrics: Metrics;
}

/** A running collector. */
export interface OpcuaCollector {
  /** The OPC UA link: negotiated security, sessions opened, monitored items, the last gap. */
  opcua(): OpcuaSourceInfo;
  /**
   * Brings up the NATS side on a connected `nc`: publishing (the buffered backlog first, `hist: true`), context
   * stamping, guarded writes and heartbeats. Resumable: after a rejection (NATS lost mid-way) call it again.
   */
  attach(nc: NatsConnection): Promise<void>;
  /** True once {@link OpcuaCollector.attach} has completed. */
  readonly attached: boolean;
  stop(): Promise<void>;
}

/**
 * Opens the local side of the OPC UA edge collector of one source, which needs no NATS: the sequence store, the
 * write-ahead disk buffer and the OPC UA subscription, with telemetry sealed (durable `(epoch, seq)`) into the buffer
 * (CONTRACT.md §5.1 store-and-forward). Until {@link OpcuaCollector.attach} nothing is published: what is sealed
 * meanwhile is backlog, replayed with `hist: true`, and carries no `ctx` stamp (the context is not known yet; the
 * runtime binds samples to frames by source time, so the stamp is lineage, not assignment).
 */
export async function openOpcuaCollector(o: OpcuaCollectorOptions): Promise<OpcuaCollector> {
  const { config, sourceId: src, metrics } = o;
  const log = o.log ?? logger('edge.opcua-collector');
  const source = config.sources.find((s) => s.id === src);
  if (!source) throw new OpcuaConfigError(`unknown source ${src}`, { source: src });
  let js: JetStreamClient | undefined;
  let context: ContextFollower | undefined;
  let commands: { stop(): Promise<void> } | undefined;
  let heartbeat: ReturnType<typeof startHeartbeat> | undefined;
  const store = await SequenceStore.open(o.varDir, src, log);
  const overflow = new OverflowFlag();
  const buffer = await openEdgeBuffer({ varDir: o.varDir, source, log, metrics, onOverflow: overflow.onOverflow });
  const units = config.units.filter((u) => u.source === src).map((u) => u.id);
  const position = new PositionFile(o.varDir, src, log);
  const resumeFrom = await position.load();
  const publisher = new TelemetryPublisher({
    js: () => js, // none yet: the publisher starts offline and only appends to the buffer
    src,
    store,
    buffer,
    onDurable: (msg) => {
      position.note(msg.samples); // the collector's position follows what is durable, for backfill after a restart
      o.onDurable?.(msg);
    },
    intervalMs: source.publishIntervalMs,
    ctx: () => context?.snapshot(),
    log,
    metrics,
  });
  const tags = config.tags.filter((t) => t.source === src && t.collect !== false && t.node);
  const opcua = connectOpcuaSource({
    src,
    endpoint: o.endpoint,
    tags,
    samplingIntervalMs: source.publishIntervalMs,
    onSample: (s) => publisher.add(s),
    log,
    metrics,
    security: resolveSecurity(source),
    varDir: o.varDir,
    pkiDir: o.pkiDir,
    retryDelayMs: o.retryDelayMs,
    resumeFrom,
    onGap: (gap) => {
      heartbeat?.beat(); // the gap annotation goes out at once, not at the next interval
      o.onGap?.(gap);
    },
  });
  publisher.start();
  log.info({ src, endpoint: o.endpoint, epoch: store.epoch, lastSeq: store.lastSeq, tags: tags.length }, 'collector started');

  let stopped = false;
  let attached = false;
  let attaching: Promise<void> = Promise.resolve();
  const attachOnce = async (nc: NatsConnection): Promise<void> => {
    if (stopped || attached) return;
    const client = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    // Context first, so that what is sealed from now on is stamped; then publishing, which replays the backlog.
    context ??= await ContextFollower.start(nc, jsm, units, log);
    if (stopped) return;
    if (!js) {
      js = client;
      publisher.nudge();
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') publisher.nudge();
      })().catch(() => undefined);
    }
    commands ??= await startCommandExecutor({
      js: client,
      jsm,
      config,
      src,
      write: (tag, value) => opcua.write(tag.node!, tag.dataType, value),
      log,
      metrics,
    });
    if (stopped) return;
    heartbeat ??= startHeartbeat({
      nc, src, intervalMs: source.heartbeatIntervalMs, log, epoch: () => store.epoch, buffer: publisher,
      // Extension of CONTRACT.md §5.2 (tolerant readers ignore it): the last OPC UA-side data gap, an annotation.
      state: () => overflow.apply({ collector: opcua.status(), extra: opcua.info().lastGap ? { opcuaGap: opcua.info().lastGap } : {} }),
    });
    attached = true;
    log.info({ src, backlog: publisher.depth }, 'collector attached to NATS');
  };

  return {
    opcua: () => opcua.info(),
    attach: (nc) => (attaching = attaching.catch(() => undefined).then(() => attachOnce(nc))),
    get attached() {
      return attached;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await attaching.catch(() => undefined); // what an attach in progress starts is stopped below
      heartbeat?.stop();
      await commands?.stop();
      await opcua.stop();
      await publisher.stop();
      await position.close();
      await buffer.close();
      await context?.stop();
      log.info({ src, epoch: store.epoch, lastSeq: store.lastSeq }, 'collector stopped');
    },
  };
}

/**
 * Starts the OPC UA edge collector of one source on a connected `nc` ({@link openOpcuaCollector}, then attached at
 * once): telemetry with durable `(epoch, seq)` and context stamps on `tlm.<src>`, heartbeats on `hb.<src>`, and
 * allowlisted guarded writes from `cmd.<src>` (CONTRACT.md §5.1–5.3).
 */
export async function startOpcuaCollector(o: OpcuaCollectorOptions & { nc: NatsConnection }): Promise<OpcuaCollector> {
  const { nc, ...local } = o;
  const collector = await openOpcuaCollector(local);
  try {
    await collector.attach(nc);
  } catch (err) {
    await collector.stop();
    throw err;
  }
  return collector;
}
