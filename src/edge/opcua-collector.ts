import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import { logger, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { startCommandExecutor } from './command-executor.ts';
import { ContextFollower } from './context-follower.ts';
import { connectOpcuaSource } from './opcua-source.ts';
import { SequenceStore } from './sequence-store.ts';
import { TelemetryPublisher } from './telemetry-publisher.ts';

/** Options of {@link startOpcuaCollector}. */
export interface OpcuaCollectorOptions {
  nc: NatsConnection;
  config: PlantConfig;
  sourceId: string;
  /** `opc.tcp://…` of the OPC UA server (the simulator's `endpoint` in the demo). */
  endpoint: string;
  varDir: string;
  log?: Logger;
  metrics: Metrics;
}

/** A running collector. */
export interface OpcuaCollector {
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
  const units = config.units.filter((u) => u.source === src).map((u) => u.id);
  const context = await ContextFollower.start(js, jsm, units, log);
  const publisher = new TelemetryPublisher({
    js,
    src,
    store,
    intervalMs: source.publishIntervalMs,
    ctx: () => context.snapshot(),
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
  });
  publisher.start();
  const commands = await startCommandExecutor({
    js,
    jsm,
    config,
    src,
    write: (tag, value) => opcua.write(tag.node!, tag.dataType, value),
    log,
    metrics,
  });

  const heartbeat = () => {
    const oldest = publisher.oldestQueuedAt;
    const hb = {
      src,
      epoch: store.epoch,
      sent: Date.now(),
      bufferDepth: publisher.depth,
      ...(oldest !== undefined ? { oldestBufferedAt: oldest } : {}),
      collector: opcua.status(),
    };
    try {
      nc.publish(subjects.heartbeat(src), encode(hb));
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'heartbeat not sent');
    }
  };
  heartbeat();
  const hbTimer = setInterval(heartbeat, source.heartbeatIntervalMs);
  const { epoch, lastSeq } = store;
  log.info({ src, endpoint: o.endpoint, epoch, lastSeq, tags: tags.length }, 'collector started');

  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(hbTimer);
      await commands.stop();
      await opcua.stop();
      await publisher.stop();
      await context.stop();
      log.info({ src, epoch: store.epoch, lastSeq: store.lastSeq }, 'collector stopped');
    },
  };
}
