import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { decode, encode } from '../../nats/codec.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { connectNats } from '../../src/broker/connect.ts';
import {
  brokerUsers,
  edgeCredentialsFile,
  ensureNatsCredentials,
  loadEdgeCredentials,
  runtimeUser,
  type NatsUser,
} from '../../src/broker/credentials.ts';
import { startCommandExecutor } from '../../src/edge/command-executor.ts';
import { ContextFollower } from '../../src/edge/context-follower.ts';
import { logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';
import { eventually } from '../helpers/phaseline-process.ts';

const config = loadConfig('config');
const log = logger('test-broker-auth');
let server: TestNats;
let varDir: string;
let users: NatsUser[];
const conns: NatsConnection[] = [];
let rt: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager };

async function edge(src: string) {
  const c = (await loadEdgeCredentials(varDir, src))!;
  const nc = await connectNats(server.url, { name: `edge-${src}`, user: c.user, pass: c.password, inboxPrefix: c.inboxPrefix, log });
  conns.push(nc);
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

/** Resolves with the error that closed the subscription, or null when it is still open after `ms`. */
async function refused(sub: Subscription, ms = 2_000): Promise<Error | null> {
  const r = await Promise.race([sub.closed, new Promise((res) => setTimeout(() => res('open'), ms))]);
  return r === 'open' ? null : (r as Error | undefined) ?? null;
}

const lastSeqOf = async (subject: string, stream = 'TELEMETRY') => {
  const si = await rt.jsm.streams.info(stream, { subjects_filter: subject });
  return si.state.subjects?.[subject] ?? 0;
};

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-auth-'));
  users = await ensureNatsCredentials(varDir, config.sources.map((s) => s.id));
  server = await startTestNats({ users: brokerUsers(users, config) });
  const self = runtimeUser(users);
  const nc = await connectNats(server.url, { name: 'runtime', user: self.user, pass: self.password, log });
  conns.push(nc);
  rt = { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
  await ensureStreams(rt.jsm);
}, 60_000);

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
  if (varDir) await rm(varDir, { recursive: true, force: true });
});

describe('NATS credentials (NIST SP 800-82r3 zones and conduits, IEC 62443-3-3 SR 1.1/2.1)', () => {
  it('generates a runtime user and one user per source once, with distinct random passwords in 0600 files', async () => {
    expect(users.map((u) => u.user).sort()).toEqual(['edge-line2', 'edge-sim', 'phaseline-runtime']);
    expect(new Set(users.map((u) => u.password)).size).toBe(3);
    for (const u of users) expect(u.password.length).toBeGreaterThanOrEqual(32);
    expect(await ensureNatsCredentials(varDir, config.sources.map((s) => s.id))).toEqual(users);
    for (const f of [join(varDir, 'nats', 'users.json'), edgeCredentialsFile(varDir, 'sim'), join(varDir, 'demo', 'nats-users.json')]) {
      expect((await stat(f)).mode & 0o777, f).toBe(0o600);
    }
    const list = JSON.parse(await readFile(join(varDir, 'demo', 'nats-users.json'), 'utf8'));
    expect(list).toEqual(expect.arrayContaining([{ user: 'edge-sim', password: expect.any(String), source: 'sim', inboxPrefix: '_INBOX.edge.sim' }]));
    expect(list).toHaveLength(2); // edge sources only: the runtime's own user is never handed out
  });

  it('refuses connections without credentials or with a wrong password', async () => {
    await expect(connectNats(server.url, { name: 'anon', log })).rejects.toThrow(/authorization|auth/i);
    await expect(connectNats(server.url, { name: 'bad', user: 'edge-sim', pass: 'nope', log })).rejects.toThrow(/authorization|auth/i);
  });
});

describe('edge user permissions, enforced by the broker', () => {
  it('lets edge sim publish its telemetry (JetStream ack), heartbeats, alarm events and command outcomes', async () => {
    const { nc, js } = await edge('sim');
    const ack = await js.publish('tlm.sim', encode({ src: 'sim', epoch: 'e', seq: 1, sent: Date.now(), samples: [] }), { msgID: 'sim:e:1' });
    expect(ack.stream).toBe('TELEMETRY');
    expect((await js.publish('alm.sim', encode({ src: 'sim', epoch: 'e', seq: 1, sent: 1, events: [] }))).stream).toBe('ALARMS');
    expect((await js.publish('cmdres.sim', encode({ id: 'x' }))).stream).toBe('COMMANDS');
    const hb = rt.nc.subscribe('hb.sim', { max: 1 });
    await rt.nc.flush();
    nc.publish('hb.sim', encode({ src: 'sim' }));
    for await (const m of hb) expect(decode(m.data)).toEqual({ src: 'sim' });
  });

  it('refuses telemetry, alarms and heartbeats published under another source\'s name: nothing reaches the stream', async () => {
    const { nc, js } = await edge('sim');
    const errors: string[] = [];
    void (async () => { for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error)); })();
    const before = await lastSeqOf('tlm.line2');
    await expect(js.publish('tlm.line2', encode({ src: 'line2', epoch: 'e', seq: 1 }), { timeout: 2_000 })).rejects.toThrow(/permission/i);
    await expect(js.publish('alm.line2', encode({ src: 'line2' }), { timeout: 2_000 })).rejects.toThrow(/permission/i);
    nc.publish('tlm.line2', encode({ src: 'line2', epoch: 'e', seq: 2 })); // core publish, no ack asked
    nc.publish('evt.phase.R101=2EHEAT', encode({}));
    await nc.flush();
    await eventually(() => errors.some((e) => /permissions violation for publish to "tlm\.line2"/i.test(e)), 5_000, 50);
    await eventually(() => errors.some((e) => /publish to "evt\.phase/i.test(e)), 5_000, 50);
    expect(await lastSeqOf('tlm.line2')).toBe(before);
    expect(nc.isClosed()).toBe(false); // a violation is refused, not fatal to the edge's own traffic
    expect((await js.publish('tlm.sim', encode({}), { msgID: 'sim:e:2' })).stream).toBe('TELEMETRY');
  });

  it('refuses core subscriptions to another source\'s commands, other units\' context, wildcards and other inboxes', async () => {
    const { nc } = await edge('sim');
    for (const subject of ['cmd.line2', 'ctx.R201', 'ctx.PK301', 'ctx.>', 'tlm.>', '>', '_INBOX.>', '_INBOX.edge.line2.>']) {
      const err = await refused(nc.subscribe(subject));
      expect(String(err), subject).toMatch(/permission/i);
    }
    expect(await refused(nc.subscribe('cmd.sim'), 300)).toBeNull();
    expect(await refused(nc.subscribe('ctx.R101'), 300)).toBeNull();
  });

  it('lets edge sim read the context of its unit R101 (last value and updates) but not R201, nor any CONTEXT consumer', async () => {
    await rt.js.publish('ctx.R101', encode({ unit: 'R101', contextId: 'C-101-1', batchId: 'B1', seq: 1, at: Date.now() }));
    await rt.js.publish('ctx.R201', encode({ unit: 'R201', contextId: 'C-201-1', batchId: 'B1', seq: 1, at: Date.now() }));
    const { nc, js, jsm } = await edge('sim');
    const own = await ContextFollower.start(nc, jsm, ['R101'], log);
    expect(own.snapshot()).toEqual({ R101: 'C-101-1' });
    await rt.js.publish('ctx.R101', encode({ unit: 'R101', contextId: 'C-101-2', batchId: 'B1', seq: 2, at: Date.now() }));
    await eventually(() => own.snapshot()?.R101 === 'C-101-2', 10_000, 50);
    await own.stop();

    await expect(jsm.direct.getMessage('CONTEXT', { last_by_subj: 'ctx.R201' })).rejects.toThrow(/permission/i);
    await expect(js.consumers.get('CONTEXT', { filter_subjects: 'ctx.R201' })).rejects.toThrow(/permission/i);
    await expect(js.consumers.get('CONTEXT', { filter_subjects: ['ctx.R101', 'ctx.R201'] })).rejects.toThrow(/permission/i);
    await expect(js.consumers.get('CONTEXT')).rejects.toThrow(/permission/i); // unfiltered
    // a durable of the runtime (filter ctx.>): an edge must not pull from it, neither to read other units nor to starve it
    await rt.jsm.consumers.add('CONTEXT', { durable_name: 'runtime-probe', filter_subject: 'ctx.>', ack_policy: AckPolicy.Explicit });
    await expect(js.consumers.get('CONTEXT', 'runtime-probe').then((c) => c.next({ expires: 1000 }))).rejects.toThrow(/permission/i);
    const foreign = await ContextFollower.start(nc, jsm, ['R201'], log);
    await new Promise((r) => setTimeout(r, 300));
    expect(foreign.snapshot()).toBeUndefined();
    await foreign.stop();
  });

  it('lets edge line2 follow both of its units', async () => {
    await rt.js.publish('ctx.PK301', encode({ unit: 'PK301', contextId: 'C-301-1', batchId: 'B1', seq: 1, at: Date.now() }));
    const { nc, jsm } = await edge('line2');
    const f = await ContextFollower.start(nc, jsm, ['R201', 'PK301'], log);
    expect(f.snapshot()).toEqual({ R201: 'C-201-1', PK301: 'C-301-1' });
    await rt.js.publish('ctx.PK301', encode({ unit: 'PK301', contextId: 'C-301-2', batchId: 'B1', seq: 2, at: Date.now() }));
    await eventually(() => f.snapshot()?.PK301 === 'C-301-2', 10_000, 50);
    await f.stop();
  });

  it('runs the guarded-write executor of sim on its own durable and refuses consumers on other sources\' commands', async () => {
    const { js, jsm } = await edge('sim');
    const writes: string[] = [];
    const exec = await startCommandExecutor({
      js, jsm, config, src: 'sim', log, metrics: new Metrics(),
      write: async (tag) => void writes.push(tag.tag),
    });
    const results = await rt.js.consumers.get('COMMANDS', { filter_subjects: 'cmdres.sim' });
    const now = Date.now();
    await rt.js.publish('cmd.sim', encode({ id: 'c1', tag: 'NOPE.TAG', value: 1, by: 't', issuedAt: now, expiresAt: now + 60_000 }));
    await rt.js.publish('cmd.sim', encode({ junk: true }));
    const outcomes: Record<string, unknown>[] = [];
    while (outcomes.length < 2) {
      const m = await results.next({ expires: 5_000 });
      if (!m) break;
      const r = decode(m.data) as Record<string, unknown>;
      if (r.id === 'x') continue; // the outcome published by the first test
      outcomes.push(r);
    }
    expect(outcomes).toEqual([
      expect.objectContaining({ id: 'c1', outcome: 'refused', reason: 'not_allowlisted' }),
      expect.objectContaining({ outcome: 'refused', reason: 'malformed' }),
    ]);
    await eventually(async () => (await lastSeqOf('dlq.cmd.sim', 'DEADLETTER')) === 1, 5_000, 50);
    await exec.stop();
    expect(writes).toEqual([]);

    const steal = { durable_name: 'edge-cmd-sim', filter_subject: 'cmd.line2' };
    await expect(jsm.consumers.add('COMMANDS', steal)).rejects.toThrow(/permission/i);
    await expect(jsm.consumers.add('COMMANDS', { durable_name: 'edge-cmd-line2', filter_subject: 'cmd.line2' })).rejects.toThrow(/permission/i);
    await expect(jsm.consumers.info('COMMANDS', 'edge-cmd-line2')).rejects.toThrow(/permission/i);
    await expect(jsm.streams.info('TELEMETRY')).rejects.toThrow(/permission/i);
    await expect(jsm.streams.delete('TELEMETRY')).rejects.toThrow(/permission/i);
    await expect(js.consumers.get('DEADLETTER', { filter_subjects: 'dlq.>' })).rejects.toThrow(/permission/i);
  });
});

describe('the runtime with its embedded broker (the whole process)', () => {
  it('serves the demo with the edge sim on its own user, and refuses line2 publishing as sim', async () => {
    const { startPhaseline } = await import('../helpers/phaseline-process.ts');
    const dir = await mkdtemp(join(tmpdir(), 'phaseline-auth-rt-'));
    const p = await startPhaseline(dir);
    try {
      await expect(connectNats(p.natsUrl, { name: 'anon', log })).rejects.toThrow(/authorization|auth/i);
      const list = JSON.parse(await readFile(join(dir, 'demo', 'nats-users.json'), 'utf8')) as { user: string; password: string; source: string; inboxPrefix: string }[];
      const line2 = list.find((u) => u.source === 'line2')!;
      const nc = await connectNats(p.natsUrl, { name: 'line2', user: line2.user, pass: line2.password, inboxPrefix: line2.inboxPrefix, log });
      conns.push(nc);
      const js = jetstream(nc);
      const msg = (src: string) => encode({ src, epoch: 'x1', seq: 1, sent: Date.now(), samples: [{ tag: 'R201.TT01.PV', v: 20, q: 'good', ts: Date.now() }] });
      await expect(js.publish('tlm.sim', msg('sim'), { msgID: 'sim:x1:1', timeout: 2_000 })).rejects.toThrow(/permission/i);
      expect((await js.publish('tlm.line2', msg('line2'), { msgID: 'line2:x1:1' })).stream).toBe('TELEMETRY');
      const qa = await p.token('qa');
      await eventually(async () => {
        const sources = (await p.api('GET', '/api/v1/sources', { token: qa })).body as { id: string; epoch?: string; lastSeq: number }[];
        const [sim, l2] = ['sim', 'line2'].map((id) => sources.find((s) => s.id === id));
        // sim advances through the in-process collector (its own NATS user); sim never got line2's message
        return sim && sim.lastSeq > 2 && sim.epoch !== 'x1' && l2?.epoch === 'x1' && l2.lastSeq === 1;
      }, 30_000);
      expect((await p.api('GET', '/api/v1/health')).body).toMatchObject({ status: 'ok', nats: 'connected' });
      expect((await stat(join(dir, 'run', 'nats', 'nats-server.conf'))).mode & 0o777).toBe(0o600);
    } finally {
      expect(await p.stop()).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
