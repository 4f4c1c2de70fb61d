import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActorHost } from '../../actors/host.ts';
import { natsActorPort } from '../../src/http/routes/actor-port.ts';
import { phaseKind } from '../../actors/phase.actor.ts';
import { unitKind } from '../../actors/unit.actor.ts';
import { ensureStreams } from '../../nats/streams.ts';
import type { PhaselineApp } from '../../src/http/app.ts';
import { unitRoutes } from '../../src/http/routes/units.routes.ts';
import { Metrics } from '../../src/metrics.ts';
import * as h from '../helpers/http-app.ts';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

let fx: h.HttpFixture;
let host: ActorHost;
let app: PhaselineApp;
const as: Record<string, { authorization: string }> = {};

beforeAll(async () => {
  fx = await h.startHttpFixture();
  const jsm = await jetstreamManager(fx.nc);
  await ensureStreams(jsm);
  host = new ActorHost({
    nc: fx.nc, js: jetstream(fx.nc), jsm, kv: fx.buckets.actors, leases: fx.buckets.leases, configVersion: 'sha256:test',
    log: quiet, metrics: new Metrics(), deadLetter: async () => {},
    kinds: [
      phaseKind({ phases: [{ id: 'R201.HEAT', unit: 'R201', execution: 'manual' }], commandExpiryMs: () => 10_000 }),
      unitKind([{ id: 'R201', phases: ['R201.HEAT'], cleanHoldMs: 720 * 3_600_000, createdAt: Date.now() }]),
    ],
    instance: { owner: 'units-routes-test', host: 'test', pid: process.pid, alive: () => false }, now: Date.now, leaseTtlMs: 2_000,
  });
  await host.start();
  ({ app } = await h.testApp(fx, {}, (a) => unitRoutes(a, natsActorPort({ nc: fx.nc, kv: fx.buckets.actors, kinds: host.kinds(), timeoutMs: 5_000 }))));
  for (const user of ['operator', 'supervisor', 'mes', 'engineer']) as[user] = await h.bearer(fx, app, user);
}, 30_000);
afterAll(async () => {
  await app?.close();
  await host?.stop();
  await fx?.stop();
});

const post = (url: string, user: string, payload: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: `/api/v1/units/R201/${url}`, headers: as[user], payload });

describe('unit GMP equipment status over HTTP (real app, real actor host, real nats-server)', () => {
  it('runs one cleaning cycle: dirty, CIP started and passed, line clearance, allocation — refusing each step out of order', async () => {
    const start = await app.inject({ method: 'GET', url: '/api/v1/units/R201', headers: as.operator });
    expect(start.json()).toMatchObject({ state: 'Available', hygiene: 'Clean', equipmentStatus: 'Clean', lineClearance: { by: 'system', firstStart: true } });

    expect((await post('mark-dirty', 'operator', { reason: 'spill' })).json()).toMatchObject({ hygiene: 'Dirty', lineClearance: null, dirtyHoldExpired: false });

    const notClean = await post('allocate', 'mes', { batchId: 'B1' });
    expect(notClean.statusCode).toBe(409);
    expect(notClean.json()).toMatchObject({ error: 'not_clean' });

    expect((await post('cip/start', 'operator')).json()).toMatchObject({ hygiene: 'Cleaning', cycle: { kind: 'CIP', startedBy: 'operator' } });
    expect((await post('cip/complete', 'operator', { ok: true })).statusCode).toBe(403);
    const passed = await post('cip/complete', 'supervisor', { ok: true });
    expect(passed.statusCode).toBe(200);
    expect(passed.json()).toMatchObject({ hygiene: 'Clean', cleanUntil: expect.any(String), cycle: { kind: 'CIP', ok: true, completedBy: 'supervisor' } });

    const noClearance = await post('allocate', 'mes', { batchId: 'B1' });
    expect(noClearance.statusCode).toBe(409);
    expect(noClearance.json()).toMatchObject({ error: 'line_clearance_required' });

    expect((await post('line-clearance', 'operator', { batchId: 'B1' })).json()).toMatchObject({ lineClearance: { by: 'operator', batchId: 'B1' } });
    const allocated = await post('allocate', 'mes', { batchId: 'B1' });
    expect(allocated.statusCode).toBe(200);
    expect(allocated.json()).toMatchObject({ state: 'Allocated', allocatedTo: 'B1', allocation: { by: 'mes', via: 'allocate' } });
  });

  it('refuses maintenance of an allocated unit (409 unit_in_use) and without a reason (422 reason_required)', async () => {
    const inUse = await post('maintenance/start', 'supervisor', { reason: 'seal' });
    expect(inUse.statusCode).toBe(409);
    expect(inUse.json()).toMatchObject({ error: 'unit_in_use', allocatedTo: 'B1' });
    expect((await post('release', 'mes', { batchId: 'B1' })).json()).toMatchObject({ state: 'Available', hygiene: 'Dirty' });
    const blank = await post('maintenance/start', 'engineer', { reason: '   ' });
    expect(blank.statusCode).toBe(422);
    expect(blank.json()).toMatchObject({ error: 'reason_required' });
    expect((await post('maintenance/start', 'engineer', { reason: 'agitator seal' })).json())
      .toMatchObject({ state: 'OutOfService', equipmentStatus: 'OutOfService', maintenance: { by: 'engineer', reason: 'agitator seal' } });
  });

  it('lists the new routes in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/api/v1/units/{id}/allocate', '/api/v1/units/{id}/line-clearance', '/api/v1/units/{id}/cip/start', '/api/v1/units/{id}/cip/complete',
      '/api/v1/units/{id}/sip/start', '/api/v1/units/{id}/sip/complete', '/api/v1/units/{id}/maintenance/start', '/api/v1/units/{id}/maintenance/end',
    ]));
  });
});
