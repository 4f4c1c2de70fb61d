import { hostname } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import type { Env } from '../config/env.ts';
import { loadConfig } from '../config/load.ts';
import type { PlantConfig } from '../config/plant.schema.ts';
import { ActorHost } from '../actors/host.ts';
import type { AuditRequest } from '../actors/envelope.ts';
import { encode, nativeCodec } from '../nats/codec.ts';
import { deadLetter } from '../nats/dlq.ts';
import { ensureBuckets, ensureStreams } from '../nats/streams.ts';
import { subjects } from '../nats/subjects.ts';
import { connectNats } from './broker/connect.ts';
import { isAlive } from './broker/process.ts';
import { resolveNatsServer } from './broker/resolve.ts';
import { embeddedNatsDirs, startNatsServer, type NatsServerHandle } from './broker/server.ts';
import { startAlarmFeed } from './context/alarm-feed.ts';
import { startIngest } from './context/ingest.ts';
import { listFrames, listSources } from './context/queries.ts';
import { startDemoMes } from './demo/demo-mes.ts';
import { startOpcuaCollector } from './edge/opcua-collector.ts';
import { routeOpcuaLogs } from './edge/opcua-log.ts';
import { startPlcSimulator } from './edge/plc-simulator.ts';
import { buildApp } from './http/app.ts';
import { SessionStore } from './http/auth/sessions.ts';
import { ensureDemoUsers, UserStore, type DemoCredential } from './http/auth/users.ts';
import { registerMachineRoutes } from './http/routes/machines.routes.ts';
import { alarmRoutes } from './http/routes/alarms.routes.ts';
import { phaseRoutes } from './http/routes/phases.routes.ts';
import { recordRoutes } from './http/routes/records.routes.ts';
import { unitRoutes } from './http/routes/units.routes.ts';
import { logger, setLogLevel } from './log.ts';
import { Metrics } from './metrics.ts';
import { loadAuditPublicKeys, loadOrCreateAuditKey } from './records/audit-key.ts';
import { startAuditWriter } from './records/audit-writer.ts';
import { actorKinds } from './runtime-actors.ts';

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
 * The composition root: config, broker, streams, audit writer, actors, ingest, edge, HTTP and demo MES, started in
 * dependency order and stopped in reverse (stop intake, drain, flush outboxes, stop the child server).
 */
export async function startRuntime(env: Env): Promise<Runtime> {
  setLogLevel(env.logLevel);
  routeOpcuaLogs();
  const config = loadConfig(env.configDir);
  if (!nativeCodec()) log.warn({}, 'msgpackr native acceleration is not available: decoding will be slower');
  const stops: (() => Promise<unknown> | unknown)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) {
      try {
        await s();
      } catch (err) {
        log.warn({ err: String(err) }, 'shutdown step failed');
      }
    }
  };
  try {
    let server: NatsServerHandle | undefined;
    let natsUrl = env.natsUrl;
    if (!natsUrl) {
      const bin = await resolveNatsServer({ bin: env.natsServerBin, varDir: env.varDir, log });
      server = await startNatsServer({ bin, ...embeddedNatsDirs(env.varDir), log });
      stops.push(() => server!.stop());
      natsUrl = server.url;
    }
    const nc = await connectNats(natsUrl, { name: 'phaseline-runtime', log });
    stops.push(() => nc.drain());
    const ncIngest = await connectNats(natsUrl, { name: 'phaseline-ingest', highRate: true, log });
    stops.push(() => ncIngest.drain());
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    const buckets = await ensureBuckets(nc);
    const metrics = new Metrics();

    const key = await loadOrCreateAuditKey(env.varDir);
    const audit = await startAuditWriter({
      nc, js, jsm, kv: buckets.actors, key, metrics, log: logger('audit'),
      checkpointEvery: config.runtime.audit.checkpointEvery, checkpointIntervalMs: config.runtime.audit.checkpointIntervalMs,
      publicKeys: await loadAuditPublicKeys(env.varDir),
    });
    stops.push(async () => { await audit.flush(); await audit.stop(); });
    const auditPort = async (entry: Omit<AuditRequest, 'configVersion'>) => {
      await js.publish(subjects.auditInbox, encode({ ...entry, configVersion: config.version }), { msgID: `http:${nuid.next()}` });
    };

    const host = new ActorHost({
      nc, js, jsm, kv: buckets.actors, leases: buckets.leases, kinds: actorKinds(config, Date.now()),
      configVersion: config.version, log: logger('actors'), metrics,
      deadLetter: (l) => deadLetter(js, metrics, l, `dlq:INBOX:${l.streamSeq}`),
      instance: { owner: `${hostname()}:${process.pid}:${nuid.next()}`, host: hostname(), pid: process.pid, alive: isAlive },
    });
    await host.start();
    stops.push(() => host.stop());

    const alarmFeed = await startAlarmFeed({
      js, jsm, metrics, log: logger('alarms'), maxBytes: config.runtime.ingest.maxMessageBytes,
      alarms: new Map(config.alarms.map((a) => [a.id, { source: config.units.find((u) => u.id === a.unit)!.source }])),
      deadLetter: (l) => deadLetter(js, metrics, l, `dlq:ALARMS:${l.streamSeq}`),
    });
    stops.push(() => alarmFeed.stop());

    const ingest = await startIngest({ nc: ncIngest, js: jetstream(ncIngest), jsm: await jetstreamManager(ncIngest), buckets, config, metrics, log: logger('ingest') });
    stops.push(() => ingest.stop());

    if (env.simulator) {
      const sim = await startPlcSimulator({ config, log: logger('plc-sim') });
      stops.push(() => sim.stop());
      const collector = await startOpcuaCollector({ nc: ncIngest, config, sourceId: 'sim', endpoint: sim.endpoint, varDir: env.varDir, log: logger('edge-sim'), metrics });
      stops.push(() => collector.stop());
    }

    const users = new UserStore(buckets.users);
    const sessions = new SessionStore({ kv: buckets.sessions, security: config.security });
    const createdCredentials = await ensureDemoUsers({ store: users, config, varDir: env.varDir });
    const sweep = setInterval(() => void sessions.sweep().catch(() => undefined), 60_000);
    sweep.unref();
    stops.push(() => clearInterval(sweep));

    const app = await buildApp({
      config, users, sessions, idempotencyKv: buckets.idempotency, metrics, log: logger('http'),
      audit: (e) => auditPort(e),
      health: () => ({ nats: nc.isClosed() ? 'disconnected' : 'connected', configVersion: config.version, natsUrl }),
    });
    const port = { host, nc, timeoutMs: config.runtime.actors.commandTimeoutMs };
    phaseRoutes(app, port);
    unitRoutes(app, port);
    alarmRoutes(app, port);
    registerMachineRoutes(app);
    recordRoutes(app, {
      config, jsm, metrics,
      publicKeys: () => loadAuditPublicKeys(env.varDir),
      sources: () => listSources(buckets, config, ingest.live),
      frames: (f) => listFrames(buckets, f),
    });
    const address = await app.listen({ host: env.httpHost, port: env.httpPort });
    stops.push(() => app.close()); // closed first on stop: intake stops before anything drains

    if (env.demoMes) {
      const r101 = config.phases.filter((p) => p.unit === 'R101').map((p) => p.id);
      if (r101.length) {
        const mes = startDemoMes({ host, unit: 'R101', phases: r101, log: logger('demo-mes') });
        stops.push(() => mes.stop());
      }
    }
    return { httpUrl: address, natsUrl, config, createdCredentials, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export type { NatsConnection };
