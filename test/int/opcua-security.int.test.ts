import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { DEMO_OPCUA_USERS_FILE, ensureDemoOpcuaUsers } from '../../src/edge/opcua-credentials.ts';
import { listPki, trustPki } from '../../src/edge/opcua-pki-admin.ts';
import { runPkiCommand } from '../../src/edge/opcua-pki-cli.ts';
import { pkiDir, provisionDemoPki } from '../../src/edge/opcua-pki.ts';
import { resolveSecurity } from '../../src/edge/opcua-security.ts';
import { connectOpcuaSource, type OpcuaSource, type Sample } from '../../src/edge/opcua-source.ts';
import { startPlcSimulator, type PlcSimulator } from '../../src/edge/plc-simulator.ts';
import { logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { until } from '../helpers/wait.ts';

const log = logger('test-opcua-security');
let config: PlantConfig;
let varDir: string;
const started: { stop(): Promise<void> }[] = [];


/** Polls `probe` until it gives something; fails after `timeoutMs` naming `what` and the last state `describe` gives. */
async function poll<T>(what: string, probe: () => Promise<T | undefined>, describe: () => Promise<string>, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 100))) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${await describe()}`);
  }
}

function collect(endpoint: string, opts: { pkiDir?: string; passwordFile?: string; policy?: 'Basic256Sha256' | 'Aes256_Sha256_RsaPss' } = {}) {
  const samples: Sample[] = [];
  const source: OpcuaSource = connectOpcuaSource({
    src: 'sim',
    endpoint,
    tags: config.tags.filter((t) => t.source === 'sim' && t.collect !== false),
    samplingIntervalMs: 250,
    onSample: (s) => samples.push(s),
    log,
    metrics: new Metrics(),
    varDir,
    pkiDir: opts.pkiDir,
    retryDelayMs: 300,
    security: resolveSecurity({
      securityPolicy: opts.policy ?? 'Basic256Sha256',
      securityMode: 'SignAndEncrypt',
      identity: { type: 'username', username: 'edge-sim', passwordFile: opts.passwordFile ?? DEMO_OPCUA_USERS_FILE },
    }),
  });
  started.push(source);
  return { source, samples };
}

async function sim(extra: Partial<Parameters<typeof startPlcSimulator>[0]> = {}): Promise<PlcSimulator> {
  const s = await startPlcSimulator({ config, varDir, timing: { runningMs: 1200, transientMs: 300 }, ...extra });
  started.push(s);
  return s;
}

beforeAll(async () => {
  config = loadConfig(join(import.meta.dirname, '../../config'));
  varDir = await mkdtemp(join(tmpdir(), 'opcua-sec-'));
  const t0 = Date.now();
  const pki = await provisionDemoPki(varDir);
  await ensureDemoOpcuaUsers(varDir);
  log.info({ ms: Date.now() - t0, created: pki.server.created }, 'demo PKI provisioned');
});

afterAll(async () => {
  for (const s of started.reverse()) await s.stop().catch(() => undefined);
  if (varDir) await rm(varDir, { recursive: true, force: true });
});

describe('OPC UA security (IEC 62541-2 §6, IEC 62541-4 §5.4–5.6)', () => {
  it('keeps every private key readable by its owner only', async () => {
    for (const side of ['server', 'client'] as const) {
      const key = join(pkiDir(varDir, side), 'own', 'private', 'private_key.pem');
      expect((await stat(key)).mode & 0o777).toBe(0o600);
    }
    expect((await stat(join(varDir, DEMO_OPCUA_USERS_FILE))).mode & 0o777).toBe(0o600);
  });

  it('collects over an encrypted Basic256Sha256 SignAndEncrypt session with a user name and password', async () => {
    const plc = await sim();
    const { source, samples } = collect(plc.endpoint);
    await until('samples', () => (samples.length >= 6 ? true : undefined));
    const info = source.info();
    expect(info.securityPolicy).toBe('Basic256Sha256');
    expect(info.securityMode).toBe('SignAndEncrypt');
    expect(source.status()).toBe('ok');
    // Checked on the server side too: its one session runs on a SignAndEncrypt channel with Basic256Sha256.
    expect(plc.sessions()).toEqual([{ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', user: 'edge-sim' }]);
    await source.stop();
    await plc.stop();
  });

  it('creates items with a percent deadband on analog tags (EURange) and per-tag sampling intervals', async () => {
    const plc = await sim();
    const base = config;
    config = { ...base, tags: base.tags.map((t) => (t.tag === 'R101.TT01.PV' ? { ...t, samplingIntervalMs: 100, deadband: { type: 'percent' as const, value: 0.01 } } : t)) };
    try {
      const { source, samples } = collect(plc.endpoint);
      await until('samples', () => (samples.some((s) => s.tag === 'R101.TT01.PV') ? true : undefined));
      expect(source.info()).toMatchObject({ monitored: 6, refused: 0 });
      await source.stop();
    } finally {
      config = base;
      await plc.stop();
    }
  });

  it('refuses a server that offers only other security than configured (no downgrade)', async () => {
    const plc = await sim();
    const { source, samples } = collect(plc.endpoint, { policy: 'Aes256_Sha256_RsaPss' });
    await until('a refusal', () => source.info().lastError);
    expect(source.info().lastError).toMatch(/no endpoint with Aes256_Sha256_RsaPss\/SignAndEncrypt \(offered: Basic256Sha256\/SignAndEncrypt/);
    expect(source.status()).toBe('down');
    expect(samples).toEqual([]);
    await source.stop();
    await plc.stop();
  });

  it('refuses a wrong password', async () => {
    const plc = await sim({ users: [{ username: 'edge-sim', password: 'not-the-one-in-the-file' }] });
    const { source, samples } = collect(plc.endpoint);
    await until('a refusal', () => source.info().lastError);
    expect(source.info().lastError).toMatch(/BadIdentityTokenRejected|BadUserAccessDenied|Bad/);
    expect(source.info().sessions).toBe(0);
    expect(samples).toEqual([]);
    await source.stop();
    await plc.stop();
  });

  it('refuses an untrusted server certificate into rejected/, and connects once it is trusted explicitly', async () => {
    // A server with a certificate store of its own: the collector has never seen (nor trusted) its certificate.
    const otherDir = join(varDir, 'other-server-pki');
    // The server side trusts the collector (only the client's refusal is under test here).
    await trustPki(otherDir, join(pkiDir(varDir, 'client'), 'own', 'certs', 'certificate.pem'));
    const plc = await sim({ pkiDir: otherDir });
    const { source, samples } = collect(plc.endpoint);
    const clientPki = pkiDir(varDir, 'client');
    // Waited on as conditions, not for a fixed time: on a loaded machine the certificate lands in rejected/ before
    // the refused connection attempt is recorded as the source's last error.
    const entry = await poll('the server certificate in rejected/', async () =>
      (await listPki(clientPki)).find((x) => x.list === 'rejected' && x.thumbprint === plc.thumbprint),
    async () => `files: ${await readdir(join(clientPki, 'rejected')).catch(() => [])}`);
    await poll('the refusal recorded as the last error', async () =>
      (/certificate/i.test(source.info().lastError ?? '') && source.status() === 'down' ? true : undefined),
    async () => `lastError ${JSON.stringify(source.info().lastError)}, status ${source.status()}`);
    expect(source.info().sessions).toBe(0);
    expect(source.info().lastError).toMatch(/certificate/i);
    expect(source.status()).toBe('down');
    expect(samples).toEqual([]);
    // The operator's decision, through the CLI's function (`phaseline pki list`, then `phaseline pki trust <thumbprint>`).
    let printed = '';
    expect(await runPkiCommand(['list'], varDir, (t) => (printed += t))).toBe(0);
    expect(printed).toMatch(new RegExp(`^rejected +${plc.thumbprint} .*commonName=Phaseline PLC simulator`, 'm'));
    printed = '';
    expect(await runPkiCommand(['trust', entry.thumbprint], varDir, (t) => (printed += t))).toBe(0);
    expect(printed).toMatch(new RegExp(`^trusted +${plc.thumbprint}`));
    expect((await listPki(clientPki)).some((x) => x.list === 'rejected' && x.thumbprint === plc.thumbprint)).toBe(false);
    await until('samples after trusting', () => (samples.length > 0 ? true : undefined));
    expect(source.info().sessions).toBe(1);
    await source.stop();
    await plc.stop();
  });
});
