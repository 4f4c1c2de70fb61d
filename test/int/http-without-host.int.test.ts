import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActorHost } from '../../actors/host.ts';
import { ensureBuckets, ensureStreams } from '../../nats/streams.ts';
import { connectNats } from '../../src/broker/connect.ts';
import type { PhaselineApp } from '../../src/http/app.ts';
import { natsActorPort } from '../../src/http/routes/actor-port.ts';
import { alarmRoutes } from '../../src/http/routes/alarms.routes.ts';
import { exceptionRoutes } from '../../src/http/routes/exceptions.routes.ts';
import { phaseRoutes } from '../../src/http/routes/phases.routes.ts';
import { unitRoutes } from '../../src/http/routes/units.routes.ts';
import { Metrics } from '../../src/metrics.ts';
import { actorKinds } from '../../src/runtime-actors.ts';
import * as h from '../helpers/http-app.ts';

/**
 * DESIGN.md principle 4: any process may answer HTTP, reading persisted views and sending inputs to the owning
 * partition over NATS. Here the app has no actor host at all: the actors run in an ActorHost of their own, on its own
 * connection to the same nats-server, and the app only has NATS, the actors KV bucket and the kinds' view functions.
 */
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
let fx: h.HttpFixture;
let hostNc: NatsConnection;
let host: ActorHost;
let app: PhaselineApp;
const as: Record<string, { authorization: string }> = {};

beforeAll(async () => {
  fx = await h.startHttpFixture();
  // The actors' process: its own connection, its own kinds.
  hostNc = await connectNats(fx.server.url, { name: 'actor-process' });
  const hostJsm = await jetstreamManager(hostNc);
  await ensureStreams(hostJsm);
  host = new ActorHost({
    nc: hostNc, js: jetstream(hostNc), jsm: hostJsm, kv: (await ensureBuckets(hostNc)).actors, leases: (await ensureBuckets(hostNc)).leases,
    configVersion: fx.config.version, log: quiet, metrics: new Metrics(), deadLetter: async () => {},
    kinds: actorKinds(fx.config, Date.now()),
    instance: { owner: 'actor-process', host: 'test', pid: process.pid, alive: () => false }, now: Date.now, leaseTtlMs: 2_000,
  });
  await host.start();
  // The HTTP process: kinds built again from config, for their views only; no reference to the host.
  const port = natsActorPort({ nc: fx.nc, kv: fx.buckets.actors, kinds: actorKinds(fx.config, 0), timeoutMs: 5_000 });
  ({ app } = await h.testApp(fx, {}, (a) => {
    phaseRoutes(a, port);
    unitRoutes(a, port);
    alarmRoutes(a, port);
    exceptionRoutes(a, { port, users: fx.users, config: fx.config, audit: () => undefined });
  }));
  for (const user of ['operator', 'mes', 'qa']) as[user] = await h.bearer(fx, app, user);
}, 60_000);

afterAll(async () => {
  await app?.close();
  await host?.stop();
  await hostNc?.close();
  await fx?.stop();
});

const get = async (url: string) => app.inject({ method: 'GET', url, headers: as.qa });

describe('HTTP without an actor host in its process', () => {
  it('answers GET /phases, /units, /alarms and /exceptions from the persisted views', async () => {
    const phases = (await get('/api/v1/phases')).json() as { id: string; state: string }[];
    expect(phases.map((p) => p.id).sort()).toEqual(fx.config.phases.map((p) => p.id).sort());
    expect((await get('/api/v1/phases/R201.HEAT')).json()).toMatchObject({ id: 'R201.HEAT', state: 'Idle', execution: 'manual' });
    expect(((await get('/api/v1/units')).json() as { id: string }[]).map((u) => u.id).sort()).toEqual(fx.config.units.map((u) => u.id).sort());
    expect(((await get('/api/v1/alarms')).json() as { id: string }[]).map((a) => a.id).sort()).toEqual(fx.config.alarms.map((a) => a.id).sort());
    expect((await get('/api/v1/exceptions')).json()).toEqual([]);
    expect((await get('/api/v1/phases/NOPE')).statusCode).toBe(404);
  });

  it('sends inputs to the hosting process through the INBOX and answers with the view the host rendered', async () => {
    const ctx = await app.inject({
      method: 'POST', url: '/api/v1/units/R201/context', headers: as.mes, payload: { batchId: 'B-REMOTE', specVersion: '1', seq: 1 },
    });
    expect(ctx.statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // the phase learns the context from its unit
    const started = await app.inject({ method: 'POST', url: '/api/v1/phases/R201.HEAT/commands', headers: as.operator, payload: { command: 'start' } });
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json()).toMatchObject({ id: 'R201.HEAT', state: 'Running' });
    expect(host.get('phase', 'R201.HEAT')!.snapshot.value).toBe('Running'); // applied by the other process
    expect((await get('/api/v1/phases/R201.HEAT')).json()).toMatchObject({ state: 'Running' });
    const raised = await app.inject({ method: 'POST', url: '/api/v1/exceptions', headers: as.operator, payload: { description: 'raised remotely' } });
    expect(raised.statusCode).toBe(201);
    expect((await get('/api/v1/exceptions')).json()).toEqual([expect.objectContaining({ id: raised.json().id, status: 'Open' })]);
    const refused = await app.inject({ method: 'POST', url: '/api/v1/phases/R201.HEAT/commands', headers: as.operator, payload: { command: 'reset' } });
    expect(refused.json()).toMatchObject({ error: 'command_not_allowed', state: 'Running' });
  });

  it('pages the list routes with limit and a cursor', async () => {
    const first = await get('/api/v1/phases?limit=1');
    const next = first.headers['x-next-cursor'];
    expect(first.json()).toHaveLength(1);
    expect(typeof next).toBe('string');
    const rest = await get(`/api/v1/phases?limit=100&cursor=${encodeURIComponent(String(next))}`);
    expect(rest.headers['x-next-cursor']).toBeUndefined();
    const ids = [...first.json(), ...rest.json()].map((p: { id: string }) => p.id);
    expect(ids).toEqual(fx.config.phases.map((p) => p.id).sort());
    expect((await get('/api/v1/phases?limit=0')).statusCode).toBe(400);
  });
});
