import type { Env } from '../../config/env.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import type { ActorKind } from '../../actors/kind.ts';
import type { Ingest } from '../context/ingest.ts';
import { setClockGauges } from '../context/heartbeats.ts';
import { frameLineage, messageLineage } from '../context/lineage-query.ts';
import { listFrames, listSources } from '../context/queries.ts';
import { buildApp } from '../http/app.ts';
import { SessionStore } from '../http/auth/sessions.ts';
import { ensureDemoUsers, UserStore, type DemoCredential } from '../http/auth/users.ts';
import { natsActorPort } from '../http/routes/actor-port.ts';
import { alarmRoutes } from '../http/routes/alarms.routes.ts';
import { auditDispositionRoutes } from '../http/routes/audit-disposition.routes.ts';
import { exceptionRoutes } from '../http/routes/exceptions.routes.ts';
import { registerMachineRoutes } from '../http/routes/machines.routes.ts';
import { phaseRoutes } from '../http/routes/phases.routes.ts';
import { recordRoutes } from '../http/routes/records.routes.ts';
import { unitRoutes } from '../http/routes/units.routes.ts';
import { logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { loadAuditPublicKeys } from '../records/audit-key.ts';
import type { Bus } from './bus.step.ts';
import type { Records } from './records.step.ts';
import type { StopStack } from './stops.ts';

/** What the HTTP step reads from the others. */
export interface HttpParts {
  bus: Bus;
  records: Records;
  /** The actor kinds, to render views of the persisted snapshots (the actors may run in another process). */
  kinds: readonly ActorKind[];
  ingest: Ingest;
  metrics: Metrics;
}

/**
 * Users and sessions (demo users on a first start), the fastify app with every route (CONTRACT.md §2), listening on
 * PHASELINE_HTTP_HOST/PORT. Its stop is pushed last, so it runs first: intake stops before anything drains.
 */
export async function startHttp(env: Env, config: PlantConfig, p: HttpParts, stops: StopStack): Promise<{ address: string; createdCredentials: DemoCredential[] }> {
  const { bus, records, kinds, ingest, metrics } = p;
  const { nc, jsm, buckets, broker, natsUrl } = bus;
  const users = new UserStore(buckets.users);
  const sessions = new SessionStore({ kv: buckets.sessions, security: config.security });
  const createdCredentials = await ensureDemoUsers({ store: users, config, varDir: env.varDir });
  const sweep = setInterval(() => void sessions.sweep().catch(() => undefined), 60_000);
  sweep.unref();
  stops.push('session sweep', () => clearInterval(sweep));

  const publicKeys = () => loadAuditPublicKeys(env.varDir);
  const app = await buildApp({
    ...(broker.tls ? { https: { key: broker.tls.key, cert: broker.tls.cert } } : {}),
    config, users, sessions, idempotencyKv: buckets.idempotency, metrics, log: logger('http'),
    audit: (e) => records.audit(e),
    health: () => ({ nats: nc.isClosed() ? 'disconnected' : 'connected', configVersion: config.version, natsUrl }),
  });
  // Inputs go to whichever process hosts the actor, through its INBOX; reads come from the persisted snapshots.
  const port = natsActorPort({ nc, kv: buckets.actors, kinds, timeoutMs: config.runtime.actors.commandTimeoutMs });
  // Each route module is a fastify plugin: its own encapsulated context, the root's guards and error handler inherited.
  await app.register(phaseRoutes, port);
  await app.register(unitRoutes, port);
  await app.register(alarmRoutes, port);
  await app.register(exceptionRoutes, { port, users, config, audit: (e) => records.audit(e) });
  await app.register(registerMachineRoutes);
  await app.register(auditDispositionRoutes, { jsm, users, publicKeys, audit: records.audit });
  await app.register(recordRoutes, {
    config, jsm, metrics, publicKeys,
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
  stops.push('http', () => app.close());
  return { address, createdCredentials };
}
