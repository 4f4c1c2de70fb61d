import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

let rt: PhaselineProcess;
let varDir: string;

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-demo-'));
  rt = await startPhaseline(varDir);
}, 90_000);

afterAll(async () => {
  expect(await rt?.stop()).toBe(0);
  await rm(varDir, { recursive: true, force: true });
});

describe('the demo plant (npm start)', () => {
  it('prints the demo credentials once and keeps them in a 0600 file; no default password works', async () => {
    expect(rt.stdout()).toMatch(/operator\s+\S{20,}/);
    expect((await stat(join(varDir, 'demo', 'credentials.json'))).mode & 0o777).toBe(0o600);
    const r = await rt.api('POST', '/api/v1/auth/login', { body: { username: 'operator', password: 'operator' } });
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('invalid_credentials');
  });

  it('runs R101 batches by itself through the OPC UA edge, and R101 tags appear in event frames', async () => {
    const t = await rt.token('qa');
    const frames = await eventually(async () => {
      const r = await rt.api('GET', '/api/v1/frames?unit=R101&kind=phase', { token: t });
      return r.body.find((f: any) => f.phase === 'R101.CHARGE' && f.tags['R101.LT01.PV']?.count > 0) ? r.body : undefined;
    }, 45_000);
    expect(frames[0].batchId).toMatch(/^DEMO-/);
    const phases = (await rt.api('GET', '/api/v1/phases?unit=R101', { token: t })).body;
    expect(phases.map((p: any) => p.execution)).toEqual(['automatic', 'automatic']);
    const sources = (await rt.api('GET', '/api/v1/sources', { token: t })).body;
    expect(sources.find((s: any) => s.id === 'sim')).toMatchObject({ status: 'online' });
  }, 60_000);

  it('lets the MES assert context on R201 and the operator drive R201.HEAT through the documented walk', async () => {
    const mes = await rt.token('mes');
    const op = await rt.token('operator');
    const ctx = await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-WALK', specVersion: '1', seq: 1 } });
    expect(ctx.status).toBe(200);
    expect(ctx.body).toMatchObject({ contextId: expect.any(String), seq: 1 });
    const stale = await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-WALK', specVersion: '1', seq: 1 } });
    expect(stale).toMatchObject({ status: 409, body: { error: 'stale_sequence', lastSeq: 1 } });
    const steps: [string, string][] = [
      ['start', 'Running'], ['hold', 'Holding'], ['complete', 'Held'], ['restart', 'Restarting'], ['complete', 'Running'],
      ['stop', 'Stopping'], ['complete', 'Stopped'], ['reset', 'Idle'],
    ];
    for (const [step, state] of steps) {
      const r = step === 'complete'
        ? await rt.api('POST', '/api/v1/phases/R201.HEAT/complete', { token: op, body: {} })
        : await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: step } });
      expect(r.status, step).toBe(200);
      expect(r.body.state, step).toBe(state);
    }
  });

  it('refuses without a session (401), with the wrong role (403) and bad bodies (400 naming fields)', async () => {
    const none = await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { body: { command: 'start' } });
    expect(none).toMatchObject({ status: 401, body: { error: 'unauthenticated' } });
    const qa = await rt.token('qa');
    const wrong = await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: qa, body: { command: 'start' } });
    expect(wrong).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    const op = await rt.token('operator');
    const bad = await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: 'launch', extra: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    expect(JSON.stringify(bad.body.fields)).toMatch(/command/);
    const unknown = await rt.api('GET', '/api/v1/phases/NOPE', { token: op });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const auto = await rt.api('POST', '/api/v1/phases/R101.HEAT/complete', { token: op, body: {} });
    expect(auto).toMatchObject({ status: 409, body: { error: 'automatic_phase' } });
  });

  it('applies a retried write with the same Idempotency-Key once', async () => {
    const mes = await rt.token('mes');
    const h = { 'idempotency-key': 'ctx-R201-2' };
    const a = await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-WALK', specVersion: '1', seq: 2 }, headers: h });
    const b = await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-WALK', specVersion: '1', seq: 2 }, headers: h });
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    const unit = (await rt.api('GET', '/api/v1/units/R201', { token: mes })).body;
    expect(unit.lastContextSeq).toBe(2);
  });

  it('records everything in a verifiable hash-chained audit trail and serves the OpenAPI document and metrics', async () => {
    const qa = await rt.token('qa');
    await eventually(async () => {
      const a = (await rt.api('GET', '/api/v1/audit?target=phase:R201.HEAT&limit=1000', { token: qa })).body;
      return a.filter((e: any) => e.action === 'phase.transition').length >= 8;
    });
    const verify = await rt.api('GET', '/api/v1/audit/verify', { token: qa });
    expect(verify.body).toMatchObject({ ok: true });
    expect(verify.body.checked).toBeGreaterThan(10);
    // the demo MES's writes to the simulated PLC: requested by the phase, and what the edge did with them
    const writes = await eventually(async () => {
      const a = (await rt.api('GET', '/api/v1/audit?target=source:sim&limit=1000', { token: qa })).body;
      return a.some((e: any) => e.action === 'plc.write.executed') ? a : undefined;
    });
    expect(writes.find((e: any) => e.action === 'plc.write.executed')).toMatchObject({ who: 'edge:sim', after: { by: 'mes', tag: expect.stringMatching(/^R101\./) } });
    const logins = (await rt.api('GET', '/api/v1/audit?target=user:qa', { token: qa })).body;
    expect(logins.some((e: any) => e.action === 'auth.login')).toBe(true);
    const openapi = await rt.api('GET', '/api/v1/openapi.json');
    expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining(['/api/v1/phases/{id}/commands', '/api/v1/units/{id}/context']));
    const metrics = await rt.api('GET', '/metrics');
    expect(metrics.body).toMatch(/phaseline_ingest_samples_total\{source="sim"\} \d+/);
  });

  it('changes the operating mode of a phase (ISA-88 §5.7.1) without changing its state, and refuses an unknown mode', async () => {
    const op = await rt.token('operator');
    const before = (await rt.api('GET', '/api/v1/phases/R201.HEAT', { token: op })).body;
    const changed = await rt.api('POST', '/api/v1/phases/R201.HEAT/mode', { token: op, body: { mode: 'Semi-automatic', reason: 'commissioning' } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ mode: 'Semi-automatic', state: before.state });
    expect((await rt.api('POST', '/api/v1/phases/R201.HEAT/mode', { token: op, body: { mode: 'Turbo' } })).status).toBe(400);
    expect((await rt.api('POST', '/api/v1/phases/R201.HEAT/mode', { token: await rt.token('qa'), body: { mode: 'Manual' } })).status).toBe(403);
  });
});
