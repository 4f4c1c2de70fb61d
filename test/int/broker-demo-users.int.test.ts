import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnv } from '../../config/env.ts';
import { loadConfig } from '../../config/load.ts';
import { decode, encode } from '../../nats/codec.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { brokerUsers, edgeCredentialsFile, ensureNatsCredentials, runtimeUser, type DemoNatsUser } from '../../src/broker/credentials.ts';
import { runPublish } from '../../src/edge/publish-cli.ts';
import { instanceInfoFile } from '../../src/instance-lock.ts';
import { logger } from '../../src/log.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const config = loadConfig(join(ROOT, 'config'));
const log = logger('test-demo-users');
let server: TestNats;
let varDir: string;
let jsm: JetStreamManager;
const conns: NatsConnection[] = [];

const line2 = async (): Promise<DemoNatsUser> =>
  (JSON.parse(await readFile(join(varDir, 'demo', 'nats-users.json'), 'utf8')) as DemoNatsUser[]).find((u) => u.source === 'line2')!;
const telemetry = (epoch: string, seq: number) =>
  encode({ src: 'line2', epoch, seq, sent: Date.now(), samples: [{ tag: 'R201.TT01.PV', v: 85, q: 'good', ts: Date.now() }] });

/** `cli.ts publish …` against the test broker, with nothing but the state directory's demo list to go by. */
async function cli(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'publish', ...args], {
    cwd: ROOT, timeout: 30_000,
    env: { ...process.env, PHASELINE_VAR: varDir, NATS_URL: server.url, PHASELINE_LOG_LEVEL: 'warn' },
  });
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-demo-users-'));
  const users = await ensureNatsCredentials(varDir, config.sources.map((s) => s.id));
  // Only the CONTRACT.md §1 list is left to the client: no edge-<source>.json to fall back on.
  await rm(edgeCredentialsFile(varDir, 'line2'));
  server = await startTestNats({ users: brokerUsers(users, config) });
  const self = runtimeUser(users);
  const nc = await connectNats(server.url, { name: 'runtime', user: self.user, pass: self.password, log });
  conns.push(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
}, 60_000);

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
  if (varDir) await rm(varDir, { recursive: true, force: true });
});

describe('var/demo/nats-users.json is enough to publish as an edge (CONTRACT.md §1)', () => {
  it('lists each edge user with its inbox prefix', async () => {
    expect(await line2()).toEqual({ user: 'edge-line2', password: expect.any(String), source: 'line2', inboxPrefix: '_INBOX.edge.line2' });
  });

  it('lets a client that uses only that entry publish to tlm.line2 and get the JetStream acknowledgement', async () => {
    const u = await line2();
    const nc = await connectNats(server.url, { name: 'demo-line2', user: u.user, pass: u.password, inboxPrefix: u.inboxPrefix, log });
    conns.push(nc);
    const ack = await jetstream(nc).publish('tlm.line2', telemetry('demo-1', 1), { msgID: 'line2:demo-1:1' });
    expect(ack).toMatchObject({ stream: 'TELEMETRY', duplicate: false });
    expect(ack.seq).toBeGreaterThan(0);
  });

  it('gets no acknowledgement without the inbox prefix: replies on _INBOX.> are refused to an edge', async () => {
    const u = await line2();
    const nc = await connectNats(server.url, { name: 'demo-line2-no-prefix', user: u.user, pass: u.password, log });
    conns.push(nc);
    await expect(jetstream(nc).publish('tlm.line2', telemetry('demo-2', 1), { msgID: 'line2:demo-2:1', timeout: 2_000 })).rejects.toThrow();
  });
});

describe('cli.ts publish (the README walkthrough\'s tool)', () => {
  it('publishes telemetry and alarm events as line2 with msg ids <src>:<epoch>:<seq> that keep counting across invocations', async () => {
    const first = await cli('line2', 'tlm', 'R201.TT01.PV', '85');
    expect(first).toMatchObject({ subject: 'tlm.line2', stream: 'TELEMETRY', duplicate: false, msgId: expect.stringMatching(/^line2:[^:]+:1$/) });
    const alarm = await cli('line2', 'alarm', 'R201.TT01.HI', '--active', '--value', '96.5');
    expect(alarm).toMatchObject({ subject: 'alm.line2', stream: 'ALARMS', duplicate: false, msgId: expect.stringMatching(/^line2:[^:]+:1$/) });
    const second = await cli('line2', 'tlm', 'R201.TT01.PV', '86', 'R201.PT01.PV', '1.25');
    const epoch = String(first.msgId).split(':')[1];
    expect(second.msgId).toBe(`line2:${epoch}:2`);

    const stored = (await jsm.streams.getMessage('TELEMETRY', { seq: second.seq as number }))!;
    expect(stored.header.get('Nats-Msg-Id')).toBe(second.msgId);
    expect(decode(stored.data)).toEqual({
      src: 'line2', epoch, seq: 2, sent: expect.any(Number),
      samples: [{ tag: 'R201.TT01.PV', v: 86, q: 'good', ts: expect.any(Number) }, { tag: 'R201.PT01.PV', v: 1.25, q: 'good', ts: expect.any(Number) }],
    });
    const event = decode((await jsm.streams.getMessage('ALARMS', { seq: alarm.seq as number }))!.data) as { events: unknown[] };
    expect(event).toMatchObject({ src: 'line2', seq: 1, events: [{ alarm: 'R201.TT01.HI', active: true, value: 96.5, ts: expect.any(Number) }] });
  }, 60_000);

  it('refuses a tag or alarm the source does not own, before publishing anything', async () => {
    const err = await cli('line2', 'tlm', 'R101.TT01.PV', '20').catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2, stderr: expect.stringContaining('source line2 has no tag R101.TT01.PV') });
    const err2 = await cli('line2', 'alarm', 'R201.TT01.HI').catch((e: { code: number; stderr: string }) => e);
    expect(err2).toMatchObject({ code: 2, stderr: expect.stringContaining('give exactly one of --active and --clear') });
  }, 60_000);

  it('finds the broker of the running instance in run/phaseline.json without NATS_URL, and refuses when there is none', async () => {
    const env = (dir: string) => readEnv({ PHASELINE_VAR: dir, PHASELINE_CONFIG: join(ROOT, 'config') });
    await mkdir(dirname(instanceInfoFile(varDir)), { recursive: true });
    await writeFile(instanceInfoFile(varDir), JSON.stringify({ pid: process.pid, natsUrl: server.url }));
    let printed = '';
    expect(await runPublish(['line2', 'tlm', 'R201.TT01.PV', '87'], env(varDir), (t) => (printed += t))).toBe(0);
    expect(JSON.parse(printed)).toMatchObject({ subject: 'tlm.line2', stream: 'TELEMETRY' });
    await rm(instanceInfoFile(varDir));
    const empty = await mkdtemp(join(tmpdir(), 'phaseline-no-broker-'));
    try {
      await expect(runPublish(['line2', 'tlm', 'R201.TT01.PV', '87'], env(empty), () => undefined)).rejects.toMatchObject({ code: 'ERR_NATS_UNAVAILABLE' });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 30_000);
});
