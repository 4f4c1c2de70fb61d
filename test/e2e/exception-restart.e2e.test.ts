import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

// DESIGN.md principle 15 (restarts change nothing) for the critical alarm R201.TT01.HI (CONTRACT.md §3): after the
// exception is signed and the phase restarted, neither a restart nor the activation event arriving again past
// JetStream's duplicate window (a copy with a fresh message id) raises a second exception or holds the phase again.

const ALARM = 'R201.TT01.HI';
const PHASE = 'R201.HEAT';
const ENV = { PHASELINE_SIMULATOR: 'off' };

let rt: PhaselineProcess;
let varDir: string;
let passwords: Record<string, string>;
let seq = 500;

async function connect(who: string): Promise<NatsConnection> {
  return connectNats(rt.natsUrl, { name: `exc-restart-${who}`, ...(await rt.natsUser(who)) });
}

async function alarmReport(active: boolean): Promise<void> {
  const nc = await connect('line2');
  try {
    await jetstream(nc).publish('alm.line2', encode({
      src: 'line2', epoch: 'e1', seq: ++seq, sent: Date.now(), events: [{ alarm: ALARM, active, ts: Date.now(), value: active ? 96.5 : 80 }],
    }), { msgID: `line2:e1:${seq}` });
  } finally {
    await nc.close();
  }
}

const phase = async (token: string) => (await rt.api('GET', `/api/v1/phases/${PHASE}`, { token })).body;
const phaseAudit = async () => (await rt.api('GET', `/api/v1/audit?target=phase:${PHASE}&limit=10000`, { token: await rt.token('qa') })).body as { action: string }[];
const count = (entries: { action: string }[], action: string) => entries.filter((e) => e.action === action).length;

/** Every message stored on `subject` in EVENTS, raw. */
async function stored(nc: NatsConnection, subject: string): Promise<{ seq: number; data: Uint8Array }[]> {
  const jsm = await jetstreamManager(nc);
  const out: { seq: number; data: Uint8Array }[] = [];
  for (let next = 1; ;) {
    const m = await jsm.direct.getMessage('EVENTS', { seq: next, next_by_subj: subject }).catch(() => null);
    if (!m) return out;
    out.push({ seq: m.seq, data: m.data });
    next = m.seq + 1;
  }
}

/** Resolves once the raiser's durable consumer has acknowledged everything up to `streamSeq`. */
async function raiserPast(nc: NatsConnection, streamSeq: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await eventually(async () => {
    const info = await jsm.consumers.info('EVENTS', 'exception-raiser');
    return info.ack_floor.stream_seq >= streamSeq && info.num_ack_pending === 0;
  }, 30_000);
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-exc-restart-'));
  rt = await startPhaseline(varDir, ENV);
  const creds = JSON.parse(await readFile(join(varDir, 'demo', 'credentials.json'), 'utf8')) as { username: string; password: string }[];
  passwords = Object.fromEntries(creds.map((c) => [c.username, c.password]));
}, 90_000);

afterAll(async () => {
  await rt?.stop();
  await rm(varDir, { recursive: true, force: true });
});

describe('a critical alarm across restarts (DESIGN.md principle 15)', () => {
  it('raises one exception and one hold, and after signing, a restart and a redelivered activation re-raise and re-hold nothing', async () => {
    const mes = await rt.token('mes');
    const op = await rt.token('operator');
    expect((await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-RST-1', specVersion: '1', seq: 1 } })).status).toBe(200);
    await eventually(async () => (await phase(op)).context?.contextId);
    expect((await rt.api('POST', `/api/v1/phases/${PHASE}/commands`, { token: op, body: { command: 'start' } })).body.state).toBe('Running');

    await alarmReport(true);
    const [exc] = await eventually(async () => {
      const list = (await rt.api('GET', '/api/v1/exceptions', { token: op })).body;
      return Array.isArray(list) && list.length === 1 ? list : undefined;
    });
    await eventually(async () => (await phase(op)).state === 'Holding');
    await eventually(async () => (await phase(op)).context.unsignedCriticalExceptions.includes(exc.id));
    await eventually(() => rt.stderr().includes('critical alarm: exception raised'), 10_000);
    // Logged once the phase's answer reached the raiser, which can be after HTTP already shows Holding.
    await eventually(() => /"outcome":"accepted","phaseState":"Holding".*critical alarm: hold of R201\.HEAT requested/.test(rt.stderr()), 10_000);
    expect((await rt.api('POST', `/api/v1/phases/${PHASE}/complete`, { token: op, body: {} })).body.state).toBe('Held');

    const signed = await rt.api('POST', `/api/v1/exceptions/${exc.id}/sign`, {
      token: op, body: {
        username: 'operator', password: passwords.operator, meaning: 'performed',
        cause: 'TT01 reading drifted high', action: 'TT01 recalibrated',
        second: { username: 'supervisor', password: passwords.supervisor, meaning: 'reviewed' },
      },
    });
    expect(signed.body.status).toBe('Signed');
    await eventually(async () => (await phase(op)).context.unsignedCriticalExceptions.length === 0);
    expect((await rt.api('POST', `/api/v1/phases/${PHASE}/commands`, { token: op, body: { command: 'restart' } })).body.state).toBe('Restarting');
    expect((await rt.api('POST', `/api/v1/phases/${PHASE}/complete`, { token: op, body: {} })).body.state).toBe('Running');

    // The alarm is still active; what it decided is on record: one exception, one hold.
    let nc = await connect('runtime');
    const activations = (await stored(nc, subjects.event('alarm', ALARM)))
      .filter((m) => { const e = decode(m.data) as { from: string; to: string }; return e.to === 'Unacknowledged' && e.from === 'Normal'; });
    expect(activations).toHaveLength(1);
    const before = await phaseAudit();
    expect(count(before, 'phase.hold')).toBe(1);
    const phaseEvents = (await stored(nc, subjects.event('phase', PHASE))).length;
    await nc.close();

    expect(await rt.stop()).toBe(0);
    rt = await startPhaseline(varDir, { ...ENV, PHASELINE_LOG_LEVEL: 'info' });
    nc = await connect('runtime');
    try {
      // Past the duplicate window the same payload is stored again: a copy with a fresh message id.
      const ack = await jetstream(nc).publish(subjects.event('alarm', ALARM), activations[0]!.data, { msgID: `replayed-past-window-${Date.now()}` });
      expect(ack.duplicate).toBe(false);
      await raiserPast(nc, ack.seq);
      const op2 = await rt.token('operator');
      expect((await phase(op2)).state).toBe('Running');
      const list = (await rt.api('GET', '/api/v1/exceptions', { token: op2 })).body;
      expect(list.map((e: { id: string; status: string }) => [e.id, e.status])).toEqual([[exc.id, 'Signed']]);
      const after = await phaseAudit();
      expect(count(after, 'phase.hold')).toBe(1);
      expect(count(after, 'phase.transition')).toBe(count(before, 'phase.transition'));
      expect((await stored(nc, subjects.event('phase', PHASE))).length).toBe(phaseEvents);
      await eventually(() => rt.stderr().includes('critical alarm seen again: exception exists, nothing re-raised or re-held'), 10_000);
      const log = rt.stderr();
      expect(log).toMatch(/"hold":"signed"/);
      expect(log).not.toContain('critical alarm: exception raised');
      expect(log).not.toContain('critical alarm: hold of');
    } finally {
      await nc.close();
    }
  }, 180_000);
});
