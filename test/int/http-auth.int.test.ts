import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeId } from '../../nats/ids.ts';
import type { PhaselineApp } from '../../src/http/app.ts';
import { hashPassword, randomPassword, verifyPassword } from '../../src/http/auth/passwords.ts';
import { ensureDemoUsers } from '../../src/http/auth/users.ts';
import * as h from '../helpers/http-app.ts';

let fx: h.HttpFixture;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const testApp = (security?: Parameters<typeof h.testApp>[1]) => h.testApp(fx, security);
const login = (app: PhaselineApp, username: string, password?: string) => h.login(fx, app, username, password);
const bearer = (app: PhaselineApp, username: string) => h.bearer(fx, app, username);
const password = (username: string) => h.demoPassword(fx, username);

beforeAll(async () => void (fx = await h.startHttpFixture()));
afterAll(async () => fx?.stop());

describe('passwords', () => {
  it('hashes with scrypt in a self-describing string and verifies only the right password', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsE', hash)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$1099511627776$8$1$AAAA$BBBB')).toBe(false);
    expect(randomPassword()).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });
});

describe('demo users', () => {
  it('creates every demo user with a distinct random password in credentials.json (mode 0600)', async () => {
    const names = fx.config.security.demoUsers.map((u) => u.username);
    expect(fx.creds.map((c) => c.username).sort()).toEqual([...names].sort());
    expect(new Set(fx.creds.map((c) => c.password)).size).toBe(fx.creds.length);
    for (const c of fx.creds) expect(c.password.length).toBeGreaterThanOrEqual(20);
    const file = join(fx.varDir, 'demo', 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(fx.creds);
    expect(await fx.users.verify('qa', password('qa'))).toMatchObject({ username: 'qa', roles: ['qa'] });
  });

  it('keeps the same users and passwords on a second start', async () => {
    const file = join(fx.varDir, 'demo', 'credentials.json');
    const before = await readFile(file, 'utf8');
    expect(await ensureDemoUsers({ store: fx.users, config: fx.config, varDir: fx.varDir })).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await fx.users.verify('operator', password('operator'))).toBeDefined();
  });

  it('recreates a demo user that was removed and keeps the other entries of credentials.json', async () => {
    await fx.buckets.users.delete(encodeId('engineer'));
    const [again, ...none] = await ensureDemoUsers({ store: fx.users, config: fx.config, varDir: fx.varDir });
    expect(none).toEqual([]);
    expect(again).toMatchObject({ username: 'engineer', roles: ['engineer'] });
    const file = JSON.parse(await readFile(join(fx.varDir, 'demo', 'credentials.json'), 'utf8'));
    expect(file).toEqual([...fx.creds.filter((c) => c.username !== 'engineer'), again]);
    expect((await stat(join(fx.varDir, 'demo', 'credentials.json'))).mode & 0o777).toBe(0o600);
  });
});

describe('login', () => {
  it('answers a token, its expiry and the user, and audits the login', async () => {
    const { app, audits, metrics } = await testApp();
    const res = await login(app, 'operator');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now() + 11 * 3_600_000);
    expect(body.user).toEqual({ username: 'operator', displayName: 'Demo Operator', roles: ['operator'] });
    expect(audits).toMatchObject([{ who: 'operator', action: 'auth.login', target: 'user:operator' }]);
    expect(metrics.get('phaseline_auth_logins_total', { result: 'ok' })).toBe(1);
    await app.close();
  });

  it('answers the same 401 for a wrong password and an unknown user, and audits both', async () => {
    const { app, audits, metrics } = await testApp();
    const wrong = await login(app, 'operator', 'not-the-password');
    const unknown = await login(app, 'nobody', 'not-the-password');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: 'invalid_credentials', message: expect.any(String) });
    expect(unknown.json()).toEqual(wrong.json());
    expect(audits.map((a) => [a.action, a.target])).toEqual([
      ['auth.login_failed', 'user:operator'],
      ['auth.login_failed', 'user:nobody'],
    ]);
    expect(metrics.get('phaseline_auth_logins_total', { result: 'failed' })).toBe(2);
    await app.close();
  });

  it('ends the session on logout', async () => {
    const { app } = await testApp();
    const headers = await bearer(app, 'supervisor');
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).json()).toMatchObject({
      username: 'supervisor',
      permissions: expect.arrayContaining(['phase.command', 'sign.second']),
    });
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).statusCode).toBe(401);
    await app.close();
  });
});

describe('requirePermission', () => {
  it('refuses without a token or with a bad one (401), a role without the permission (403), admits the right one', async () => {
    const { app, calls } = await testApp();
    const post = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/api/v1/test/write', headers, payload: { n: 1 } });
    const none = await post({});
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: 'unauthenticated' });
    expect((await post({ authorization: 'Bearer bogus' })).json()).toMatchObject({ error: 'unauthenticated' });
    expect((await post({ authorization: 'Basic b3BlcmF0b3I6eA==' })).statusCode).toBe(401);
    const qa = await post(await bearer(app, 'qa'));
    expect(qa.statusCode).toBe(403);
    expect(qa.json()).toMatchObject({ error: 'forbidden', permission: 'phase.command' });
    expect(calls.write).toBe(0);
    const op = await post(await bearer(app, 'operator'));
    expect(op.statusCode).toBe(200);
    expect(op.json()).toMatchObject({ n: 1, by: 'operator' });
    await app.close();
  });

  it('authenticates before validating, so an anonymous caller learns nothing about the body schema', async () => {
    const { app } = await testApp();
    const res = await app.inject({ method: 'POST', url: '/api/v1/test/write', payload: { n: 'x' } });
    expect(res.statusCode).toBe(401);
    await app.close();
  });

  it('ends a session after the inactivity timeout but slides it while in use', async () => {
    const { app } = await testApp({ sessionInactivityMinutes: 0.6 / 60 }); // 600 ms
    const headers = await bearer(app, 'operator');
    const me = () => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers });
    for (let i = 0; i < 5; i++) {
      await sleep(250);
      expect((await me()).statusCode).toBe(200);
    }
    await sleep(900);
    const res = await me();
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'unauthenticated' });
    await app.close();
  });

  it('ends a session at its absolute expiry even while in use', async () => {
    const { app } = await testApp({ sessionMaxHours: 0.5 / 3600 }); // 500 ms
    const headers = await bearer(app, 'operator');
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).statusCode).toBe(200);
    await sleep(700);
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).statusCode).toBe(401);
    await app.close();
  });
});

describe('errors', () => {
  it('names each offending field of an invalid body', async () => {
    const { app } = await testApp();
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 5, extra: true } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe('invalid_request');
    expect(body.message).toContain('username');
    expect(body.fields.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(['username', 'password']));
    for (const f of body.fields) expect(f).toMatchObject({ in: 'body', message: expect.any(String) });
    await app.close();
  });

  it('answers bad JSON, a wrong media type, a too large body and an unknown route in the one error shape', async () => {
    const { app } = await testApp();
    const url = '/api/v1/auth/login';
    const json = { 'content-type': 'application/json' };
    const bad = await app.inject({ method: 'POST', url, headers: json, payload: '{"username": "a",' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'invalid_request', message: expect.any(String) });
    const text = await app.inject({ method: 'POST', url, headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ error: 'unsupported_media_type' });
    const big = await app.inject({ method: 'POST', url, headers: json, payload: JSON.stringify({ username: 'x'.repeat(1_100_000) }) });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'payload_too_large' });
    const missing = await app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: expect.any(String) });
    await app.close();
  });

  it('answers an unexpected failure with 500 internal_error and no internals', async () => {
    const { app } = await testApp();
    const headers = await bearer(app, 'operator');
    const res = await app.inject({ method: 'POST', url: '/api/v1/test/write', headers, payload: { n: 1, mode: 'crash' } });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal_error', message: expect.any(String) });
    expect(res.body).not.toContain('secret');
    expect(res.body).not.toContain('.ts');
    await app.close();
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer to a retry and applies the write once', async () => {
    const { app, calls, metrics } = await testApp();
    const headers = { ...(await bearer(app, 'operator')), 'idempotency-key': 'k-replay' };
    const send = () => app.inject({ method: 'POST', url: '/api/v1/test/write', headers, payload: { n: 7 } });
    const first = await send();
    const second = await send();
    expect(first.statusCode).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(second.statusCode).toBe(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    expect(calls.write).toBe(1);
    expect(metrics.get('phaseline_http_idempotent_replays_total')).toBe(1);
    // Another user's identical key is another request.
    const sup = { ...headers, ...(await bearer(app, 'supervisor')) };
    const other = await app.inject({ method: 'POST', url: '/api/v1/test/write', headers: sup, payload: { n: 7 } });
    expect(other.json()).toMatchObject({ by: 'supervisor' });
    expect(calls.write).toBe(2);
    await app.close();
  });

  it('refuses the same key with a different body (422) and a too long key (400)', async () => {
    const { app, calls } = await testApp();
    const auth = (await bearer(app, 'operator')).authorization;
    const send = (key: string, n: number) =>
      app.inject({ method: 'POST', url: '/api/v1/test/write', headers: { authorization: auth, 'idempotency-key': key }, payload: { n } });
    expect((await send('k-mismatch', 1)).statusCode).toBe(200);
    const reused = await send('k-mismatch', 2);
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ error: 'idempotency_key_reused' });
    const long = await send('k'.repeat(201), 1);
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ error: 'invalid_request', fields: [{ path: 'Idempotency-Key' }] });
    expect(calls.write).toBe(1);
    await app.close();
  });

  it('answers 409 request_in_progress to a concurrent retry while the first still runs', async () => {
    const { app, calls, hold } = await testApp();
    const headers = { ...(await bearer(app, 'operator')), 'idempotency-key': 'k-concurrent' };
    const send = () => app.inject({ method: 'POST', url: '/api/v1/test/write', headers, payload: { n: 3 } });
    const release = hold();
    const first = send();
    while (calls.write === 0) await sleep(5);
    const second = await send();
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ error: 'request_in_progress' });
    release();
    expect((await first).statusCode).toBe(200);
    expect((await send()).headers['idempotent-replayed']).toBe('true');
    expect(calls.write).toBe(1);
    await app.close();
  });

  it('keeps a 4xx as the answer but forgets a 5xx so that a retry runs', async () => {
    const { app, calls } = await testApp();
    const headers = await bearer(app, 'operator');
    const send = (key: string, mode: string) =>
      app.inject({ method: 'POST', url: '/api/v1/test/write', headers: { ...headers, 'idempotency-key': key }, payload: { n: 1, mode } });
    expect((await send('k-4xx', 'conflict')).statusCode).toBe(409);
    const again = await send('k-4xx', 'conflict');
    expect(again.statusCode).toBe(409);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toMatchObject({ error: 'command_not_allowed', state: 'Idle' });
    expect(calls.write).toBe(1);
    expect((await send('k-5xx', 'crash')).statusCode).toBe(500);
    expect((await send('k-5xx', 'crash')).headers['idempotent-replayed']).toBeUndefined();
    expect(calls.write).toBe(3);
    await app.close();
  });
});

describe('public routes', () => {
  it('serves health without a token', async () => {
    const { app } = await testApp();
    const res = await app.inject({ method: 'GET', url: '/api/v1/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', nats: 'connected' });
    await app.close();
  });

  it('serves the OpenAPI document listing the login route and the bearer scheme', async () => {
    const { app } = await testApp();
    const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.info.title).toBe('Phaseline');
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    const loginOp = doc.paths['/api/v1/auth/login'].post;
    expect(loginOp.security).toEqual([]);
    expect(Object.keys(loginOp.requestBody.content['application/json'].schema.properties)).toEqual(['username', 'password']);
    expect(doc.paths['/api/v1/test/write']).toBeDefined();
    expect(doc.paths['/api/v1/openapi.json']).toBeUndefined();
    await app.close();
  });
});
