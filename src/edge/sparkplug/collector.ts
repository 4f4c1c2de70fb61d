import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { IClientOptions } from 'mqtt';
import type { PlantConfig, Source } from '../../../config/plant.schema.ts';
import { encode } from '../../../nats/codec.ts';
import { deadLetter } from '../../../nats/dlq.ts';
import { encodeId } from '../../../nats/ids.ts';
import { subjects } from '../../../nats/subjects.ts';
import { MqttSourceConfigError } from '../../errors.ts';
import { logger, type Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { ContextFollower } from '../context-follower.ts';
import { SequenceStore } from '../sequence-store.ts';
import { openEdgeBuffer } from '../buffer/open-edge-buffer.ts';
import { OverflowFlag, startHeartbeat } from '../heartbeat.ts';
import { TelemetryPublisher } from '../telemetry-publisher.ts';
import { SparkplugHost } from './host.ts';
import type { EdgeSample, SampleSink } from './samples.ts';

/** Options of {@link startSparkplugCollector}. */
export interface SparkplugCollectorOptions {
  nc: NatsConnection;
  config: PlantConfig;
  sourceId: string;
  varDir: string;
  metrics: Metrics;
  log?: Logger;
  /**
   * JetStream client for dead letters (default: the collector's own). An edge NATS user may publish only its own
   * subjects; in the runtime the dead letters go over the runtime's connection.
   */
  deadLetters?: JetStreamClient;
  /** Extra MQTT client options (credentials; `ca` instead of the source's `tls.caFile`). */
  mqtt?: Partial<IClientOptions>;
}

/** A running collector. */
export interface SparkplugCollector {
  host: SparkplugHost;
  stop(): Promise<void>;
}

/**
 * Starts the MQTT collector of a `kind: "mqtt"` source as a Sparkplug B primary host (Sparkplug B 3.0 ch. 5 Operational Behavior: Sparkplug Host Application):
 * telemetry with durable `(epoch, seq)` and context stamps on `tlm.<src>`, heartbeats on `hb.<src>`, rejected MQTT
 * messages on `dlq.mqtt.<src>.<encoded topic>` (CONTRACT.md §5).
 */
export async function startSparkplugCollector(o: SparkplugCollectorOptions): Promise<SparkplugCollector> {
  const { nc, config, sourceId: src, metrics } = o;
  const log = o.log ?? logger('edge.sparkplug');
  const source = config.sources.find((s) => s.id === src);
  if (!source) throw new MqttSourceConfigError(src, 'no such source');
  const { endpoint, sparkplug } = source;
  if (!endpoint || !/^mqtts?:\/\//.test(endpoint)) throw new MqttSourceConfigError(src, 'endpoint must be mqtt://… or mqtts://…');
  if (!sparkplug) throw new MqttSourceConfigError(src, 'a "sparkplug": { group, hostId } block is required');
  const tls = await tlsOptions(config, source);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const store = await SequenceStore.open(o.varDir, src, log);
  const units = config.units.filter((u) => u.source === src).map((u) => u.id);
  const context = await ContextFollower.start(nc, jsm, units, log);
  // Write-ahead to the source's disk buffer: nothing the host accepted is lost while NATS is away (store-and-forward).
  const overflow = new OverflowFlag();
  const buffer = await openEdgeBuffer({ varDir: o.varDir, source, log, metrics, onOverflow: overflow.onOverflow });
  const publisher = new TelemetryPublisher({ js, src, store, buffer, intervalMs: source.publishIntervalMs, ctx: () => context.snapshot(), log, metrics });
  publisher.start();
  const host = new SparkplugHost({
    url: endpoint, hostId: sparkplug.hostId, group: sparkplug.group, src, log, metrics,
    reorderTimeoutMs: sparkplug.reorderTimeoutMs,
    tags: config.tags.filter((t) => t.source === src),
    sink: publisherSink(publisher),
    mqtt: { ...tls, ...o.mqtt },
    reject: (r) => {
      const letter = { reason: r.reason, detail: `${r.topic}: ${r.detail}`, subject: `mqtt.${encodeId(src)}.${encodeId(r.topic)}`, data: r.data };
      deadLetter(o.deadLetters ?? js, metrics, letter).catch((err: Error) => log.warn({ err: err.message, reason: r.reason }, 'dead letter not stored'));
    },
  });

  const heartbeat = startHeartbeat({
    nc, src, intervalMs: source.heartbeatIntervalMs, log, epoch: () => store.epoch, buffer: publisher,
    state: () => overflow.apply({ collector: !host.connected ? 'down' : host.nodes().some((n) => !n.online) ? 'degraded' : 'ok' }),
  });
  log.info({ src, endpoint, group: sparkplug.group, hostId: sparkplug.hostId, epoch: store.epoch }, 'sparkplug collector started');

  let stopped = false;
  return {
    host,
    async stop() {
      if (stopped) return;
      stopped = true;
      heartbeat.stop();
      await host.stop();
      await publisher.stop();
      await buffer.close();
      await context.stop();
      log.info({ src, epoch: store.epoch, lastSeq: store.lastSeq }, 'sparkplug collector stopped');
    },
  };
}

/**
 * The sink over the telemetry publisher: what this collector needs from it is `add(sample)`, `depth`, `oldestQueuedAt`
 * and `stop()`. Historical samples keep `hist: true` on the sample (extra fields are tolerated, CONTRACT.md §5.1).
 */
function publisherSink(p: TelemetryPublisher): SampleSink {
  return { add: (samples: readonly EdgeSample[]) => samples.forEach((s) => p.add(s)) };
}

async function tlsOptions(config: PlantConfig, source: Source): Promise<Partial<IClientOptions>> {
  if (!source.tls) return {};
  const file = resolve(config.dir, source.tls.caFile);
  try {
    return { ca: await readFile(file), rejectUnauthorized: true };
  } catch (err) {
    throw new MqttSourceConfigError(source.id, `cannot read tls.caFile ${file}`, { cause: err });
  }
}
