import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Env } from '../../config/env.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { ensureBuckets, ensureStreams, type Buckets, type StreamIdentityChange } from '../../nats/streams.ts';
import { connectNats } from '../broker/connect.ts';
import { startSecuredBroker, type SecuredBroker } from '../broker/security.ts';
import { warnIfOldBroker } from '../broker/version.ts';
import type { Logger } from '../log.ts';
import type { StopStack } from './stops.ts';

/** The bus: the broker (embedded or `NATS_URL`), the runtime's connections, streams and KV buckets. */
export interface Bus {
  broker: SecuredBroker;
  natsUrl: string;
  nc: NatsConnection;
  /** A second connection for high-rate ingest, so that telemetry never queues behind actor traffic. */
  ncIngest: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  /** What ensureStreams did to each stream's identity (an `upgraded` one is audited by the records step). */
  streams: Record<string, StreamIdentityChange>;
}

/** Starts or reaches the broker and makes the streams and buckets (CONTRACT.md §1 and §5; DESIGN.md principle 15). */
export async function startBus(env: Env, config: PlantConfig, stops: StopStack, log: Logger): Promise<Bus> {
  // Embedded: a NATS user per edge source and one for the runtime, TLS when PHASELINE_TLS is on (broker/security.ts).
  const broker = await startSecuredBroker(env, config, log);
  if (broker.server) stops.push('broker', () => broker.server!.stop());
  const natsUrl = broker.url;
  const nc = await connectNats(natsUrl, { name: 'phaseline-runtime', log, ...broker.runtime });
  if (env.natsUrl) warnIfOldBroker(nc.info?.version, natsUrl, log); // the embedded one is resolved >= 2.11
  stops.push('runtime connection', () => nc.drain());
  const ncIngest = await connectNats(natsUrl, { name: 'phaseline-ingest', highRate: true, log, ...broker.runtime });
  stops.push('ingest connection', () => ncIngest.drain());
  const jsm = await jetstreamManager(nc);
  const streams = await ensureStreams(jsm);
  const buckets = await ensureBuckets(nc);
  return { broker, natsUrl, nc, ncIngest, js: jetstream(nc), jsm, buckets, streams };
}
