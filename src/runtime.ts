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
import { startSecuredBroker } from './broker/security.ts';
import { warnIfOldBroker } from './broker/version.ts';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.ts';
import { startAlarmFeed } from './context/alarm-feed.ts';
import { startCommandOutcomes } from './records/command-outcomes.ts';
import { startExceptionRaiser } from './records/exception-raiser.ts';
import { startIngest } from './context/ingest.ts';
import { setClockGauges } from './context/heartbeats.ts';
import { frameLineage, messageLineage } from './context/lineage-query.ts';
import { listFrames, listSources } from './context/queries.ts';
import { startDemoMes } from './demo/demo-mes.ts';
import { startOpcuaCollector } from './edge/opcua-collector.ts';
import { startSparkplugCollector } from './edge/sparkplug/collector.ts';
import { routeOpcuaLogs } from './edge/opcua-log.ts';
import { startPlcSimulator } from './edge/plc-simulator.ts';
import { provisionDemoPki } from './edge/opcua-pki.ts';
import { buildApp } from './http/app.ts';
import { SessionStore } from './http/auth/sessions.ts';
import { ensureDemoUsers, UserStore, type DemoCredential } from './http/auth/users.ts';
import { registerMachineRoutes } from './http/routes/machines.routes.ts';
import { alarmRoutes } from './http/routes/alarms.routes.ts';
import { auditDispositionRoutes } from './http/routes/audit-disposition.routes.ts';
import { exceptionRoutes, rolesWith } from './http/routes/exceptions.routes.ts';
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
export async function startRuntime(env: Env, opts: { lock?: InstanceLock } = {}): Promise<Runtime> {
  setLogLevel(env.logLevel);
  // One instance per state directory, taken before anything starts and released last (src/instance-lock.ts).
  const lock = opts.lock ?? (await acquireInstanceLock({ varDir: env.varDir, role: 'runtime' }));
  routeOpcuaLogs();
  const config = loadConfig(env.configDir);
  if (!nativeCodec()) log.warn({}, 'msgpackr native acceleration is not available: decoding will be slower');
  const stops: (() => Promise<unknown> | unknown)[] = [() => lock.release()];
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
    // Embedded: a NATS user per edge source and one for the runtime, TLS when PHASELINE_TLS is on (broker/security.ts).
    const broker = await startSecuredBroker(env, config, log);
    if (broker.server) stops.push(() => broker.server!.stop());
    const natsUrl = broker.url;
    const nc = await connectNats(natsUrl, { name: 'phaseline-runtime', log, ...broker.runtime });
    if (env.natsUrl) warnIfOldBroker(nc.info?.version, natsUrl, log); // the embedded one is resolved >= 2.11
    stops.push(() => nc.drain());
    const ncIngest = await connectNats(natsUrl, { name: 'phaseline-ingest', highRate: true, log, ...broker.runtime });
    stops.push(() => ncIngest.drain());
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    const buckets = await ensureBuckets(nc);
    const metrics = new Metrics();

    const key = await loadOrCreateAuditKey(env.varDir);
    const audit = await startAuditWriter({
      nc, js, jsm, kv: buckets.actors, idsKv: buckets.audit, key, metrics, log: logger('audit'),
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
      instance: { owner: `${hostname()}:${process.pid}:${nuid.next()}`, host: hostname(), pid: process.pid, alive: isAlive }, now: Date.now,
    });
    await host.start();
    stops.push(() => host.stop());

    const outcomes = startCommandOutcomes({ js, jsm, configVersion: config.version, log: logger('commands'), metrics });
    stops.push(() => outcomes.stop());

    const raiser = await startExceptionRaiser({
      js, jsm, host, kv: buckets.actors, log: logger('exceptions'), metrics,
      alarms: new Map(config.alarms.filter((a) => a.critical).map((a) => [a.id, {
        id: a.id, unit: a.unit, description: a.description,
      }])),
      secondSignerRoles: rolesWith(config, 'sign.second'), closeRoles: rolesWith(config, 'exception.close.critical'),
    });
    stops.push(() => raiser.stop());

    const alarmFeed = await startAlarmFeed({
      js, jsm, metrics, log: logger('alarms'), maxBytes: config.runtime.ingest.maxMessageBytes,
      alarms: new Map(config.alarms.map((a) => [a.id, { source: config.units.find((u) => u.id === a.unit)!.source }])),
      deadLetter: (l) => deadLetter(js, metrics, l, `dlq:ALARMS:${l.streamSeq}`),
    });
    stops.push(() => alarmFeed.stop());

    const ingest = await startIngest({ nc: ncIngest, js: jetstream(ncIngest), jsm: await jetstreamManager(ncIngest), buckets, config, metrics, log: logger('ingest') });
    stops.push(() => ingest.stop());

    if (env.simulator) {
      await provisionDemoPki(env.varDir, logger('pki')); // demo only: own certificates, pre-trusted both ways
      const sim = await startPlcSimulator({ config, varDir: env.varDir, log: logger('plc-sim') });
      stops.push(() => sim.stop());
      // The in-process edge connects as the `sim` source's own user: the broker limits it like any external edge.
      const edgeAuth = await broker.edge('sim');
      const ncEdge = edgeAuth ? await connectNats(natsUrl, { name: 'phaseline-edge-sim', highRate: true, log, ...edgeAuth }) : ncIngest;
      if (ncEdge !== ncIngest) stops.push(() => ncEdge.drain());
      const collector = await startOpcuaCollector({ nc: ncEdge, config, sourceId: 'sim', endpoint: sim.endpoint, varDir: env.varDir, log: logger('edge-sim'), metrics });
      stops.push(() => collector.stop());
    }

    // Opt-in: a `kind: "mqtt"` source with a `sparkplug` block is collected by a Sparkplug B primary host in-process
    // (the demo's line2 stays `external`: nothing drives it unless its config says so).
    for (const s of config.sources.filter((x) => x.kind === 'mqtt' && x.sparkplug)) {
      const auth = await broker.edge(s.id);
      const ncMqtt = auth ? await connectNats(natsUrl, { name: `phaseline-edge-${s.id}`, highRate: true, log, ...auth }) : ncIngest;
      if (ncMqtt !== ncIngest) stops.push(() => ncMqtt.drain());
      const mqttCollector = await startSparkplugCollector({ nc: ncMqtt, config, sourceId: s.id, varDir: env.varDir, log: logger(`edge-${s.id}`), metrics, deadLetters: jetstream(ncIngest) });
      stops.push(() => mqttCollector.stop());
    }

    const users = new UserStore(buckets.users);
    const sessions = new SessionStore({ kv: buckets.sessions, security: config.security });
    const createdCredentials = await ensureDemoUsers({ store: users, config, varDir: env.varDir });
    const sweep = setInterval(() => void sessions.sweep().catch(() => undefined), 60_000);
    sweep.unref();
    stops.push(() => clearInterval(sweep));

    const app = await buildApp({
      ...(broker.tls ? { https: { key: broker.tls.key, cert: broker.tls.cert } } : {}),
      config, users, sessions, idempotencyKv: buckets.idempotency, metrics, log: logger('http'),
      audit: (e) => auditPort(e),
      health: () => ({ nats: nc.isClosed() ? 'disconnected' : 'connected', configVersion: config.version, natsUrl }),
    });
    const port = { host, nc, timeoutMs: config.runtime.actors.commandTimeoutMs };
    phaseRoutes(app, port);
    unitRoutes(app, port);
    alarmRoutes(app, port);
    exceptionRoutes(app, { port, users, config, audit: (e) => auditPort(e) });
    registerMachineRoutes(app);
    auditDispositionRoutes(app, {
      jsm, users, publicKeys: () => loadAuditPublicKeys(env.varDir),
      audit: async (e, requestId) => {
        await js.publish(subjects.auditInbox, encode({ ...e, configVersion: config.version }), { msgID: requestId });
      },
    });
    recordRoutes(app, {
      config, jsm, metrics,
      publicKeys: () => loadAuditPublicKeys(env.varDir),
      sources: () => listSources(buckets, config, ingest.live, Date.now(), ingest.clock),
      frames: (f) => listFrames(buckets, f, config),
      refreshMetrics: () => {
        for (const src of ingest.clock.sources()) setClockGauges(metrics, src, ingest.clock.get(src, true)!);
      },
      lineage: {
        frame: (id, tag, ts) => frameLineage({ buckets, jsm, config }, id, tag, ts),
        message: (src, epoch, seq, tag, ts) => messageLineage({ buckets, jsm, config }, src, epoch, seq, tag, ts),
      },
    });
    const address = await app.listen({ host: env.httpHost, port: env.httpPort });
    await lock.update({ httpUrl: address, natsUrl });
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
