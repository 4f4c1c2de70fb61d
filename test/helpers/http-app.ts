import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { ensureBuckets, type Buckets } from '../../nats/streams.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { PhaselineError } from '../../src/errors.ts';
import { buildApp, type PhaselineApp } from '../../src/http/app.ts';
import { requireUser } from '../../src/http/auth/guard.ts';
import { SessionStore } from '../../src/http/auth/sessions.ts';
import { ensureDemoUsers, UserStore, type DemoCredential } from '../../src/http/auth/users.ts';
import type { AuthAuditEntry } from '../../src/http/routes/auth.routes.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestNats, type TestNats } from './nats.ts';

/** A private nats-server with the buckets, the demo plant config and its demo users created. */
export interface HttpFixture {
  server: TestNats;
  nc: NatsConnection;
  buckets: Buckets;
  varDir: string;
  config: PlantConfig;
  users: UserStore;
  /** The demo users' credentials as the first ensureDemoUsers returned them. */
  creds: DemoCredential[];
  stop(): Promise<void>;
}

/** Starts the fixture (one per test file). */
export async function startHttpFixture(): Promise<HttpFixture> {
  const server = await startTestNats();
  const nc = await connectNats(server.url, { name: 'http-test' });
  const buckets = await ensureBuckets(nc);
  const varDir = await mkdtemp(join(tmpdir(), 'phaseline-http-'));
  const config = loadConfig('config');
  const users = new UserStore(buckets.users);
  const creds = await ensureDemoUsers({ store: users, config, varDir });
  return {
    server, nc, buckets, varDir, config, users, creds,
    async stop() {
      await nc.close();
      await server.stop();
      await rm(varDir, { recursive: true, force: true });
    },
  };
}

/**
 * An app over the fixture's buckets (security settings overridable), with `POST /api/v1/test/write` guarded by
 * `phase.command` that counts how often its handler really ran; `register` adds further routes before `ready()`.
 */
export async function testApp(fx: HttpFixture, security: Partial<PlantConfig['security']> = {}, register?: (app: PhaselineApp) => void) {
  const config: PlantConfig = { ...fx.config, security: { ...fx.config.security, ...security } };
  const audits: AuthAuditEntry[] = [];
  const metrics = new Metrics();
  const calls = { write: 0 };
  let gate: Promise<void> = Promise.resolve();
  const app = await buildApp({
    config,
    users: fx.users,
    sessions: new SessionStore({ kv: fx.buckets.sessions, security: config.security }),
    idempotencyKv: fx.buckets.idempotency,
    metrics,
    audit: (e) => void audits.push(e),
    health: () => ({ nats: fx.nc.isClosed() ? 'disconnected' : 'connected' }),
  });
  app.post(
    '/api/v1/test/write',
    {
      onRequest: app.requirePermission('phase.command'),
      schema: { body: z.object({ n: z.number().int(), mode: z.enum(['ok', 'conflict', 'crash']).default('ok') }) },
    },
    async (request) => {
      calls.write++;
      await gate;
      if (request.body.mode === 'conflict') throw new PhaselineError('ERR_PHASE_COMMAND_NOT_ALLOWED', 'no', { state: 'Idle' });
      if (request.body.mode === 'crash') throw new Error('secret internals at /srv/x.ts:12');
      return { n: request.body.n, by: requireUser(request).username, call: calls.write };
    },
  );
  register?.(app);
  await app.ready();
  /** Makes the write handler wait until the returned function is called. */
  const hold = () => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    return () => release();
  };
  return { app, audits, metrics, calls, hold };
}

/** The demo password of a user. */
export function demoPassword(fx: HttpFixture, username: string): string {
  return fx.creds.find((c) => c.username === username)!.password;
}

/** `POST /api/v1/auth/login` (with the demo password unless given). */
export function login(fx: HttpFixture, app: PhaselineApp, username: string, password = demoPassword(fx, username)) {
  return app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
}

/** Logs a demo user in and returns `{ authorization: 'Bearer …' }`. */
export async function bearer(fx: HttpFixture, app: PhaselineApp, username: string): Promise<{ authorization: string }> {
  const res = await login(fx, app, username);
  expect(res.statusCode).toBe(200);
  return { authorization: `Bearer ${res.json().token as string}` };
}
