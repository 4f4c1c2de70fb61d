import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Env } from '../config/env.ts';
import { loadConfig } from '../config/load.ts';
import type { PlantConfig } from '../config/plant.schema.ts';
import { nativeCodec } from '../nats/codec.ts';
import { startIngest } from './context/ingest.ts';
import { startDemoMes } from './demo/demo-mes.ts';
import { routeOpcuaLogs } from './edge/opcua-log.ts';
import type { DemoCredential } from './http/auth/users.ts';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.ts';
import { logger, setLogLevel } from './log.ts';
import { Metrics } from './metrics.ts';
import { startActors } from './runtime/actors.step.ts';
import { startBus } from './runtime/bus.step.ts';
import { startEdges } from './runtime/edges.step.ts';
import { startHttp } from './runtime/http.step.ts';
import { startRecords } from './runtime/records.step.ts';
import { StopStack } from './runtime/stops.ts';

const log = logger('runtime');

/** A running Phaseline process: its addresses, what it printed once, and an ordered stop. */
export interface Runtime {
  httpUrl: string;
  natsUrl: string;
  config: PlantConfig;
  createdCredentials: DemoCredential[];
  stop(): Promise<void>;
}

/**
 * The composition root, in named steps started in dependency order, each pushing its stops onto one stack that runs
 * in reverse (stop intake, drain, flush outboxes, stop the child server): lock, bus, records, actors, ingest, edges,
 * HTTP, demo MES.
 */
export async function startRuntime(env: Env, opts: { lock?: InstanceLock } = {}): Promise<Runtime> {
  setLogLevel(env.logLevel);
  // One instance per state directory, taken before anything starts and released last (src/instance-lock.ts).
  const lock = opts.lock ?? (await acquireInstanceLock({ varDir: env.varDir, role: 'runtime' }));
  routeOpcuaLogs();
  const config = loadConfig(env.configDir);
  if (!nativeCodec()) log.warn({}, 'msgpackr native acceleration is not available: decoding will be slower');
  const stops = new StopStack(log);
  stops.push('instance lock', () => lock.release());
  try {
    const metrics = new Metrics();
    const bus = await startBus(env, config, stops, log);
    const records = await startRecords(env, config, bus, metrics, stops);
    const host = await startActors(config, bus, metrics, stops);
    const { ncIngest, buckets } = bus;
    const ingest = await startIngest({ nc: ncIngest, js: jetstream(ncIngest), jsm: await jetstreamManager(ncIngest), buckets, config, metrics, log: logger('ingest') });
    stops.push('ingest', () => ingest.stop());
    await startEdges(env, config, bus, metrics, stops, log);
    const { address, createdCredentials } = await startHttp(env, config, { bus, records, kinds: host.kinds(), ingest, metrics }, stops);
    await lock.update({ httpUrl: address, natsUrl: bus.natsUrl });
    if (env.demoMes) {
      const r101 = config.phases.filter((p) => p.unit === 'R101').map((p) => p.id);
      if (r101.length) {
        const mes = startDemoMes({ host, unit: 'R101', phases: r101, log: logger('demo-mes') });
        stops.push('demo MES', () => mes.stop());
      }
    }
    return { httpUrl: address, natsUrl: bus.natsUrl, config, createdCredentials, stop: () => stops.stopAll() };
  } catch (err) {
    await stops.stopAll();
    throw err;
  }
}

export type { NatsConnection };
