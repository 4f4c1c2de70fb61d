import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { brokerUsers, ensureNatsCredentials, runtimeUser } from '../../src/broker/credentials.ts';
import { ensureTlsMaterial, type TlsMaterial } from '../../src/broker/tls.ts';
import { buildApp, type PhaselineApp } from '../../src/http/app.ts';
import { SessionStore } from '../../src/http/auth/sessions.ts';
import { Metrics } from '../../src/metrics.ts';
import { startHttpFixture, type HttpFixture } from '../helpers/http-app.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';

let dir: string;
let tls: TlsMaterial;
let server: TestNats;
let fx: HttpFixture;
let app: PhaselineApp;
let httpsUrl: string;
const config = loadConfig('config');

/** GET over HTTPS with node:https (fetch cannot be given a CA); resolves with status and body or rejects. */
function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What a plaintext client gets after INFO when it sends CONNECT and PING without TLS, and whether the server hung up. */
function plaintextAnswer(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = netConnect({ host: hostname, port: Number(port) });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.startsWith('INFO ') && buf.includes('\r\n') && !buf.includes('CONNECT_SENT')) {
        s.write('CONNECT {"verbose":false,"user":"x","pass":"y"}\r\nPING\r\n');
        buf += 'CONNECT_SENT';
      }
    });
    s.on('close', () => resolve(buf + '|CLOSED'));
    setTimeout(() => (resolve(buf + '|STILL_OPEN'), s.destroy()), 3_000);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phaseline-tls-'));
  tls = await ensureTlsMaterial(dir);
  const users = await ensureNatsCredentials(dir, config.sources.map((s) => s.id));
  server = await startTestNats({ users: brokerUsers(users, config), tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
  fx = await startHttpFixture();
  app = await buildApp({
    https: { key: tls.key, cert: tls.cert },
    config: fx.config, users: fx.users, metrics: new Metrics(), idempotencyKv: fx.buckets.idempotency,
    sessions: new SessionStore({ kv: fx.buckets.sessions, security: fx.config.security }),
    audit: () => undefined, health: () => ({ nats: 'connected' }),
  });
  httpsUrl = await app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await fx?.stop();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TLS one setting away (PHASELINE_TLS; IEC 62443-3-3 SR 4.1)', () => {
  it('generates a local CA and a server certificate once, keys readable by the owner only', async () => {
    expect(tls.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect((await stat(tls.keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'tls', 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect((await ensureTlsMaterial(dir)).cert).toBe(tls.cert); // kept across starts
  });

  it('accepts a NATS client that trusts the CA, over TLS and with its user', async () => {
    const self = runtimeUser(await ensureNatsCredentials(dir, config.sources.map((s) => s.id)));
    const nc = await connectNats(server.url, { name: 'tls-ok', user: self.user, pass: self.password, ca: tls.ca });
    expect(nc.info?.tls_required).toBe(true);
    await nc.flush();
    await nc.close();
  });

  it('refuses a plaintext NATS client and a TLS client that does not trust the CA', async () => {
    const answer = await plaintextAnswer(server.url);
    expect(answer).toMatch(/"tls_required":true/);
    // nats-server reads the plaintext CONNECT as a failed TLS handshake and closes the connection: no PONG, no +OK.
    expect(answer).toMatch(/CONNECT_SENT\|CLOSED$/);
    expect(answer).not.toMatch(/PONG|\+OK/);
    await expect(connectNats(server.url, { name: 'no-ca', user: 'x', pass: 'y' })).rejects.toThrow(/certificate|self.signed|verify/i);
  });

  it('answers GET /api/v1/health over HTTPS for a client that trusts the CA, and refuses the others', async () => {
    expect(httpsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await get(`${httpsUrl}/api/v1/health`, tls.ca);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'ok' });
    await expect(get(`${httpsUrl}/api/v1/health`)).rejects.toThrow(/certificate|self.signed|verify/i);
    await expect(fetch(`${httpsUrl.replace('https', 'http')}/api/v1/health`)).rejects.toThrow();
  });
});

describe('the runtime with PHASELINE_TLS=on', () => {
  it('serves HTTPS and a TLS broker with the generated CA, and the demo edge publishes through it', async () => {
    const { startPhaseline, eventually } = await import('../helpers/phaseline-process.ts');
    const var2 = await mkdtemp(join(tmpdir(), 'phaseline-tls-rt-'));
    const p = await startPhaseline(var2, { PHASELINE_TLS: 'on' });
    try {
      expect(p.httpUrl).toMatch(/^https:\/\//);
      const ca = await (await import('node:fs/promises')).readFile(join(var2, 'tls', 'ca.pem'), 'utf8');
      expect(JSON.parse((await get(`${p.httpUrl}/api/v1/health`, ca)).body)).toMatchObject({ status: 'ok', nats: 'connected' });
      await expect(get(`${p.httpUrl}/api/v1/health`)).rejects.toThrow(/certificate|self.signed|verify/i);
      expect((await plaintextAnswer(p.natsUrl))).toMatch(/"tls_required":true.*CONNECT_SENT\|CLOSED$/s);
      await eventually(async () => /phaseline_ingest_messages_total\{source="sim"\} [1-9]/.test((await get(`${p.httpUrl}/metrics`, ca)).body), 30_000);
    } finally {
      expect(await p.stop()).toBe(0);
      await rm(var2, { recursive: true, force: true });
    }
  }, 90_000);
});
