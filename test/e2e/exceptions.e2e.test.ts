import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../nats/codec.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

let rt: PhaselineProcess;
let varDir: string;
let nc: NatsConnection;
let passwords: Record<string, string>;
let seq = 100;

const alarmEvent = (active: boolean) => jetstream(nc).publish('alm.line2', encode({
  src: 'line2', epoch: 'e1', seq: ++seq, sent: Date.now(), events: [{ alarm: 'R201.TT01.HI', active, ts: Date.now(), value: active ? 96.5 : 80 }],
}), { msgID: `line2:e1:${seq}` });
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Every field of an answer that names an instant (`at`, `…At`, `…Since`, `…Until`), with its path. */
const instants = (v: unknown, path = ''): [string, unknown][] => (v === null || typeof v !== 'object' ? []
  : Object.entries(v).flatMap(([k, x]) => [
    ...(/^(at|.+At|.+Since|.+Until)$/.test(k) ? [[`${path}${k}`, x] as [string, unknown]] : []), ...instants(x, `${path}${k}.`)]));
const phase = async (token: string) => (await rt.api('GET', '/api/v1/phases/R201.HEAT', { token })).body;

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-exc-'));
  rt = await startPhaseline(varDir);
  nc = await connectNats(rt.natsUrl, { name: 'exc-test', ...(await rt.natsUser('line2')) });
  const creds = JSON.parse(await readFile(join(varDir, 'demo', 'credentials.json'), 'utf8')) as { username: string; password: string }[];
  passwords = Object.fromEntries(creds.map((c) => [c.username, c.password]));
}, 90_000);
afterAll(async () => {
  await nc?.close();
  await rt?.stop();
  await rm(varDir, { recursive: true, force: true });
});

describe('a critical alarm raises an exception that needs two signatures and holds the phase (CONTRACT.md §3 R201.TT01.HI)', () => {
  let excId = '';

  it('raises the exception with the batch and phase, and holds the running phase', async () => {
    const mes = await rt.token('mes');
    const op = await rt.token('operator');
    expect((await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-EXC-1', specVersion: '1', seq: 1 } })).status).toBe(200);
    await eventually(async () => (await phase(op)).context?.contextId);
    expect((await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: 'start' } })).body.state).toBe('Running');

    await alarmEvent(true);
    const [exc] = await eventually(async () => {
      const list = (await rt.api('GET', '/api/v1/exceptions?status=open', { token: op })).body;
      return Array.isArray(list) && list.length === 1 ? list : undefined;
    });
    excId = exc.id;
    expect(exc).toMatchObject({ kind: 'alarm', status: 'Open', critical: true, batchId: 'B-EXC-1', phase: 'R201.HEAT', source: 'alarm:R201.TT01.HI' });
    await eventually(async () => (await phase(op)).state === 'Holding');
    await eventually(async () => (await phase(op)).context.unsignedCriticalExceptions.includes(excId));
    expect((await rt.api('GET', '/api/v1/exceptions?batch=B-OTHER', { token: op })).body).toEqual([]);
  });

  it('keeps the phase from restarting until the exception is signed', async () => {
    const op = await rt.token('operator');
    expect((await rt.api('POST', '/api/v1/phases/R201.HEAT/complete', { token: op, body: {} })).body.state).toBe('Held');
    const refused = await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: 'restart' } });
    expect(refused.status).toBe(412);
    expect(refused.body.reasons.join(' ')).toContain(excId);
  });

  it('refuses wrong credentials (401), another person\'s first signature (403), and a critical signing without a distinct second signer (422)', async () => {
    const op = await rt.token('operator');
    const sign = (body: Record<string, unknown>) => rt.api('POST', `/api/v1/exceptions/${excId}/sign`, { token: op, body });
    const investigation = { cause: 'TT01 reading drifted high', action: 'jacket cooling checked, TT01 recalibrated' };
    expect((await sign({ username: 'operator', password: 'wrong', meaning: 'performed', ...investigation })).body.error).toBe('invalid_credentials');
    expect((await sign({ username: 'supervisor', password: passwords.supervisor, meaning: 'performed', ...investigation })).status).toBe(403);
    const alone = await sign({ username: 'operator', password: passwords.operator, meaning: 'performed', ...investigation });
    expect(alone).toMatchObject({ status: 422, body: { error: 'second_signer_required' } });
    const same = await sign({ username: 'operator', password: passwords.operator, meaning: 'performed', second: { username: 'operator', password: passwords.operator, meaning: 'reviewed' } });
    expect(same).toMatchObject({ status: 422, body: { error: 'second_signer_required' } });
    const badSecond = await sign({ username: 'operator', password: passwords.operator, meaning: 'performed', second: { username: 'supervisor', password: 'nope', meaning: 'reviewed' } });
    expect(badSecond).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } });
    // a refused signing applied nothing: no acknowledgement, no investigation recorded under the user's name
    expect((await rt.api('GET', `/api/v1/exceptions/${excId}`, { token: op })).body).toMatchObject({ status: 'Open' });
    const engineerSecond = await sign({ username: 'operator', password: passwords.operator, meaning: 'performed', ...investigation, second: { username: 'engineer', password: passwords.engineer, meaning: 'reviewed' } });
    expect(engineerSecond).toMatchObject({ status: 403, body: { error: 'second_signer_not_permitted' } });
    expect((await rt.api('GET', `/api/v1/exceptions/${excId}`, { token: op })).body.status).toBe('Open');
  });

  it('signs with two distinct signers (printed name, time, meaning), then the phase may restart; closing needs a reviewer', async () => {
    const op = await rt.token('operator');
    const signed = await rt.api('POST', `/api/v1/exceptions/${excId}/sign`, {
      token: op, body: {
        username: 'operator', password: passwords.operator, meaning: 'performed',
        cause: 'TT01 reading drifted high', action: 'jacket cooling checked, TT01 recalibrated',
        second: { username: 'supervisor', password: passwords.supervisor, meaning: 'reviewed' },
      },
    });
    expect(signed.status).toBe(200);
    expect(signed.body.investigation).toMatchObject({ by: 'operator', cause: 'TT01 reading drifted high' });
    expect(signed.body.status).toBe('Signed');
    expect(signed.body.signatures).toEqual([
      expect.objectContaining({ username: 'operator', printedName: 'Demo Operator', meaning: 'performed', signedAt: expect.stringMatching(ISO) }),
      expect.objectContaining({ username: 'supervisor', printedName: 'Demo Supervisor', meaning: 'reviewed', signedAt: expect.stringMatching(ISO) }),
    ]);
    // One representation of time in the answer, and the signature stamped after the steps it completes (21 CFR 11.50(a)(2)).
    const times = instants(signed.body);
    expect(times.map(([path]) => path)).toEqual(expect.arrayContaining(['openedAt', 'acknowledged.at', 'investigation.at', 'signatures.0.signedAt', 'signatures.1.signedAt']));
    for (const [path, value] of times) expect(value, path).toMatch(ISO);
    const { acknowledged, investigation, signatures } = signed.body;
    expect(Date.parse(investigation.at)).toBeGreaterThan(Date.parse(acknowledged.at));
    for (const s of signatures) expect(Date.parse(s.signedAt)).toBeGreaterThan(Date.parse(investigation.at));
    await eventually(async () => (await phase(op)).context.unsignedCriticalExceptions.length === 0);
    expect((await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: 'restart' } })).body.state).toBe('Restarting');
    expect((await rt.api('POST', `/api/v1/exceptions/${excId}/investigate`, { token: op, body: { cause: 'x', action: 'y' } })).body.error).toBe('signed_content_locked');
    expect((await rt.api('POST', `/api/v1/exceptions/${excId}/close`, { token: op, body: {} })).status).toBe(403);
    const qa = await rt.token('qa');
    expect((await rt.api('POST', `/api/v1/exceptions/${excId}/close`, { token: qa, body: {} })).body.status).toBe('Closed');
    const audit = (await rt.api('GET', `/api/v1/audit?target=exception:${excId}`, { token: qa })).body.map((e: any) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['exception.created', 'exception.signed', 'exception.closed', 'signature.failed']));
  });

  it('raises nothing for a repeated report of the same activation, and a new exception for a new activation', async () => {
    const op = await rt.token('operator');
    await alarmEvent(true); // still active: no transition, no exception
    await alarmEvent(false);
    await alarmEvent(true);
    const list = await eventually(async () => {
      const l = (await rt.api('GET', '/api/v1/exceptions', { token: op })).body;
      return l.length === 2 ? l : undefined;
    });
    expect(list.map((e: any) => e.status)).toEqual(['Closed', 'Open']);
  });

  it('lets an operator raise a non-critical exception by hand and sign it alone', async () => {
    const op = await rt.token('operator');
    const created = await rt.api('POST', '/api/v1/exceptions', { token: op, body: { description: 'Spilled 2 L of buffer at the charge port', batchId: 'B-EXC-1' } });
    expect(created).toMatchObject({ status: 201, body: { kind: 'manual', status: 'Open', critical: false, batchId: 'B-EXC-1' } });
    const signed = await rt.api('POST', `/api/v1/exceptions/${created.body.id}/sign`, {
      token: op, body: { username: 'operator', password: passwords.operator, meaning: 'performed', cause: 'hose coupling loose', action: 'coupling replaced, area cleaned' },
    });
    expect(signed.body).toMatchObject({ status: 'Signed', investigation: { cause: 'hose coupling loose' } });
    expect((await rt.api('POST', '/api/v1/exceptions', { token: await rt.token('engineer'), body: { description: 'x' } })).status).toBe(403);
    expect((await rt.api('POST', '/api/v1/exceptions', { token: op, body: { description: '' } })).status).toBe(400);
    expect((await rt.api('GET', '/api/v1/exceptions/EXC-NOPE', { token: op })).status).toBe(404);
  });
});
