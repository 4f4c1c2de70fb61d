import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
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

/** Options of {@link startOpcuaCollector}. */
export interface OpcuaCollectorOptions {
  nc: NatsConnection;
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
  /** Called once a telemetry message is durable in the store-and-forward buffer (tests keep a ground truth). */
  onDurable?(msg: SealedMessage): void;
  log?: Logger;
  metrics: Metrics;
}

/** A running collector. */
export interface OpcuaCollector {
  /** The OPC UA link: negotiated security, sessions opened, monitored items, the last gap. */
  opcua(): OpcuaSourceInfo;
  stop(): Promise<void>;
}

/**
 * Starts the OPC UA edge collector of one source: telemetry with durable `(epoch, seq)` and context stamps on
 * `tlm.<src>`, heartbeats on `hb.<src>`, and allowlisted guarded writes from `cmd.<src>` (CONTRACT.md §5.1–5.3).
 */
export async function startOpcuaCollector(o: OpcuaCollectorOptions): Promise<OpcuaCollector> {
  const { nc, config, sourceId: src, metrics } = o;
  const log = o.log ?? logger('edge.opcua-collector');
  const source = config.sources.find((s) => s.id === src);
  if (!source) throw new Error(`unknown source ${src}`);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const store = await SequenceStore.open(o.varDir, src, log);
  const overflow = new OverflowFlag();
  const buffer = await openEdgeBuffer({ varDir: o.varDir, source, log, metrics, onOverflow: overflow.onOverflow });
  const units = config.units.filter((u) => u.source === src).map((u) => u.id);
  const context = await ContextFollower.start(js, jsm, units, log);
  const position = new PositionFile(o.varDir, src, log);
  const resumeFrom = await position.load();
  const publisher = new TelemetryPublisher({
    js,
    src,
    store,
    buffer,
    onDurable: (msg) => {
      position.note(msg.samples); // the collector's position follows what is durable, for backfill after a restart
      o.onDurable?.(msg);
    },
    intervalMs: source.publishIntervalMs,
    ctx: () => context.snapshot(),
    log,
    metrics,
  });
  const tags = config.tags.filter((t) => t.source === src && t.collect !== false && t.node);
  let heartbeat: ReturnType<typeof startHeartbeat> | undefined;
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
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'reconnect') publisher.nudge();
  })().catch(() => undefined);
  const commands = await startCommandExecutor({
    js,
    jsm,
    config,
    src,
    write: (tag, value) => opcua.write(tag.node!, tag.dataType, value),
    log,
    metrics,
  });

  heartbeat = startHeartbeat({
    nc, src, intervalMs: source.heartbeatIntervalMs, log, epoch: () => store.epoch, buffer: publisher,
    // Extension of CONTRACT.md §5.2 (tolerant readers ignore it): the last OPC UA-side data gap, an annotation.
    state: () => overflow.apply({ collector: opcua.status(), extra: opcua.info().lastGap ? { opcuaGap: opcua.info().lastGap } : {} }),
  });
  const { epoch, lastSeq } = store;
  log.info({ src, endpoint: o.endpoint, epoch, lastSeq, tags: tags.length }, 'collector started');

  let stopped = false;
  return {
    opcua: () => opcua.info(),
    async stop() {
      if (stopped) return;
      stopped = true;
      heartbeat?.stop();
      await commands.stop();
      await opcua.stop();
      await publisher.stop();
      await position.close();
      await buffer.close();
      await context.stop();
      log.info({ src, epoch: store.epoch, lastSeq: store.lastSeq }, 'collector stopped');
    },
  };
}
