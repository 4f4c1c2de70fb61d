import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

let rt: PhaselineProcess;
let varDir: string;
let nc: NatsConnection;
let js: JetStreamClient;
let seq = 0;
const ALARM = 'R201.TT01.HI';

/** The control system's alarm state for line 2, as an edge publishes it (CONTRACT.md §5.2). */
const report = (events: Record<string, unknown>[], over: Record<string, unknown> = {}, subject = 'alm.line2') => {
  const msg = { src: 'line2', epoch: 'e1', seq: ++seq, sent: Date.now(), events, ...over };
  return js.publish(subject, encode(msg), { msgID: `${String(msg.src)}:e1:${msg.seq}` });
};
const alarm = async (token: string) => (await rt.api('GET', `/api/v1/alarms/${ALARM}`, { token })).body;
const metric = async (outcome: string) => {
  const text = (await rt.api('GET', '/metrics')).body as string;
  return Number(text.match(new RegExp(`phaseline_alarm_events_total\\{outcome="${outcome}"\\} (\\d+)`))?.[1] ?? 0);
};

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-alarms-'));
  rt = await startPhaseline(varDir);
  nc = await connectNats(rt.natsUrl, { name: 'alarm-edge', ...(await rt.natsUser('runtime')) });
  js = jetstream(nc);
}, 90_000);
afterAll(async () => {
  await nc?.close();
  await rt?.stop();
  await rm(varDir, { recursive: true, force: true });
});

describe('alarms: mirrored from alm.<src>, requests sent to the control system (ISA-18.2 §3)', () => {
  it('lists the configured alarms in their ISA-18.2 state, filtered by unit and activity', async () => {
    const op = await rt.token('operator');
    const all = (await rt.api('GET', '/api/v1/alarms', { token: op })).body;
    expect(all.map((a: any) => a.id).sort()).toEqual(['R101.TT01.HI', 'R201.TT01.HI']);
    expect(all.find((a: any) => a.id === ALARM)).toMatchObject({ state: 'Normal', priority: 'high', critical: true, unit: 'R201', flags: { active: false } });
    expect((await rt.api('GET', '/api/v1/alarms?unit=R101', { token: op })).body.map((a: any) => a.id)).toEqual(['R101.TT01.HI']);
    expect((await rt.api('GET', '/api/v1/alarms?active=true&unit=R201', { token: op })).body).toEqual([]);
    expect((await rt.api('GET', '/api/v1/alarms')).status).toBe(401);
    expect((await rt.api('GET', '/api/v1/alarms/NOPE', { token: op })).status).toBe(404);
  });

  it('follows the control system: active → unacknowledged; an acknowledge request goes out as cmd.line2 and the state changes only when reported', async () => {
    const op = await rt.token('operator');
    await report([{ alarm: ALARM, active: true, ts: Date.now(), value: 93.1, message: 'TT01 high' }]);
    await eventually(async () => (expect(await alarm(op)).toMatchObject({ state: 'Unacknowledged', flags: { active: true, acked: false } }), true));
    expect((await rt.api('GET', '/api/v1/alarms?active=true', { token: op })).body.map((a: any) => a.id)).toEqual([ALARM]);

    const sub = nc.subscribe('cmd.line2', { max: 1 });
    const sent = (async () => { for await (const m of sub) return decode(m.data) as Record<string, unknown>; })();
    const ack = await rt.api('POST', `/api/v1/alarms/${ALARM}/ack`, { token: op, body: {} });
    expect(ack.status).toBe(200);
    expect(ack.body.state).toBe('Unacknowledged');
    const cmd = await sent;
    expect(cmd).toMatchObject({ kind: 'alarm', tag: ALARM, value: 'ack', by: 'operator', roles: ['operator'] });
    expect(cmd!.expiresAt).toBeGreaterThan(cmd!.issuedAt as number); // a guarded write: never executed late

    await report([{ alarm: ALARM, active: true, acked: true, ackedBy: 'operator', ts: Date.now() }]);
    await eventually(async () => (expect(await alarm(op)).toMatchObject({ state: 'Acknowledged', flags: { active: true, acked: true } }), true));
    const audit = (await rt.api('GET', `/api/v1/audit?target=alarm:${ALARM}`, { token: await rt.token('qa') })).body;
    expect(audit.map((e: any) => e.action)).toEqual(expect.arrayContaining(['alarm.ack_request', 'alarm.ack.requested']));
  });

  it('refuses requests the user may not make or the state does not allow, with reasons', async () => {
    const op = await rt.token('operator');
    expect((await rt.api('POST', `/api/v1/alarms/${ALARM}/shelve`, { token: op, body: { reason: 'x', until: Date.now() + 60_000 } })).status).toBe(403);
    const sup = await rt.token('supervisor');
    expect((await rt.api('POST', `/api/v1/alarms/${ALARM}/shelve`, { token: sup, body: { until: Date.now() + 60_000 } })).status).toBe(400);
    const past = await rt.api('POST', `/api/v1/alarms/${ALARM}/shelve`, { token: sup, body: { reason: 'sensor swap', until: Date.now() - 1 } });
    expect(past).toMatchObject({ status: 422, body: { error: 'invalid_shelve_expiry' } });
    const again = await rt.api('POST', `/api/v1/alarms/${ALARM}/ack`, { token: op, body: {} });
    expect(again).toMatchObject({ status: 409, body: { error: 'already_acknowledged' } }); // nothing unacknowledged
    expect((await rt.api('POST', `/api/v1/alarms/${ALARM}/ack`, { body: {} })).status).toBe(401);
  });

  it('dead-letters malformed, spoofed, unknown and foreign alarm events with their reason, and keeps going', async () => {
    const before = { invalid: await metric('invalid'), mismatch: await metric('source_mismatch'), unknown: await metric('unknown_alarm'), wrong: await metric('wrong_source'), malformed: await metric('malformed') };
    await js.publish('alm.line2', new Uint8Array([0xc1, 0xff, 0x00]), { msgID: 'junk-1' });
    await report([{ alarm: ALARM, active: 'yes', ts: Date.now() }]);
    await report([{ alarm: ALARM, active: false, ts: Date.now() }], { src: 'sim' });
    await report([{ alarm: 'R999.XX.HI', active: true, ts: Date.now() }, { alarm: ALARM, active: true, acked: true, ackedBy: 'operator', value: 94, ts: Date.now() }]);
    await report([{ alarm: ALARM, active: false, ts: Date.now() }], { src: 'sim' }, 'alm.sim');
    await eventually(async () => {
      expect(await metric('malformed')).toBe(before.malformed + 1);
      expect(await metric('invalid')).toBe(before.invalid + 1);
      expect(await metric('source_mismatch')).toBe(before.mismatch + 1);
      expect(await metric('unknown_alarm')).toBe(before.unknown + 1);
      expect(await metric('wrong_source')).toBe(before.wrong + 1);
      return true;
    });
    // none of the refused events moved the alarm; the valid event beside the unknown one was applied
    expect(await alarm(await rt.token('operator'))).toMatchObject({ state: 'Acknowledged', flags: { active: true } });
    const dlq = await jetstream(nc).consumers.get('DEADLETTER', { filter_subjects: ['dlq.alm.>'] });
    const reasons: string[] = [];
    for (;;) {
      const m = await dlq.next({ expires: 1000 });
      if (!m) break;
      reasons.push(String((decode(m.data) as { reason: string }).reason));
      if (m.info.pending === 0) break;
    }
    expect(reasons).toEqual(expect.arrayContaining(['malformed', 'invalid', 'source_mismatch', 'unknown_alarm', 'wrong_source']));
  });
});
