import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';
import { ISA88_COMMANDS, ISA88_MATRIX, ISA88_PATHS, ISA88_STATES } from '../model/requirements/isa88-phase.ts';

const COMMANDS = ISA88_COMMANDS.map((c) => c.toLowerCase());
const TABLE = Object.fromEntries(ISA88_STATES.map((s) => [s, {
  sc: ISA88_MATRIX[s].SC ?? '',
  cmd: Object.fromEntries(ISA88_COMMANDS.filter((c) => ISA88_MATRIX[s][c]).map((c) => [c.toLowerCase(), ISA88_MATRIX[s][c]!])) as Record<string, string>,
}])) as Record<string, { sc: string; cmd: Record<string, string> }>;
const PATH = Object.fromEntries(ISA88_STATES.map((s) => [s, ISA88_PATHS[s].map((c) => (c === 'SC' ? 'complete' : c.toLowerCase()))]));

let rt: PhaselineProcess;
let varDir: string;
let op: string;
const phase = '/api/v1/phases/R201.HEAT';

const act = (step: string) => step === 'complete'
  ? rt.api('POST', `${phase}/complete`, { token: op, body: {} })
  : rt.api('POST', `${phase}/commands`, { token: op, body: { command: step } });

/** Brings the phase back to Idle from anywhere (abort → complete → reset, as the table allows). */
async function toIdle(): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const s = (await rt.api('GET', phase, { token: op })).body.state as string;
    if (s === 'Idle') return;
    if (TABLE[s]!.cmd.reset) await act('reset');
    else if (TABLE[s]!.cmd.abort) await act('abort');
    else await act('complete');
  }
  throw new Error('could not return to Idle');
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-e2e-'));
  rt = await startPhaseline(varDir, { PHASELINE_SIMULATOR: 'off' });
  op = await rt.token('operator');
  const mes = await rt.token('mes');
  const ctx = await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-MATRIX', specVersion: '1', seq: 1 } });
  expect(ctx.status).toBe(200);
}, 90_000);

afterAll(async () => {
  expect(await rt?.stop()).toBe(0);
  await rm(varDir, { recursive: true, force: true });
});

describe('ISA-88 state × command matrix over HTTP (STANDARDS.md §1.3)', () => {
  for (const state of Object.keys(TABLE)) {
    it(`answers all 8 commands and state-complete in ${state} as the table says`, async () => {
      for (const command of [...COMMANDS, 'complete']) {
        await toIdle();
        for (const step of PATH[state]!) expect((await act(step)).status).toBe(200);
        expect((await rt.api('GET', phase, { token: op })).body.state).toBe(state);
        const target = command === 'complete' ? TABLE[state]!.sc : TABLE[state]!.cmd[command];
        const r = await act(command);
        if (target) {
          expect(r.status, `${state} × ${command}`).toBe(200);
          expect(r.body.state).toBe(target);
        } else if (command === 'complete') {
          expect(r.status, `${state} × complete`).toBe(409);
          expect(r.body.error).toBe('not_transient');
        } else {
          expect(r.status, `${state} × ${command}`).toBe(409);
          expect(r.body.error).toBe('command_not_allowed');
          expect(r.body.state).toBe(state);
          expect([...r.body.allowed].sort()).toEqual(Object.keys(TABLE[state]!.cmd).sort());
          expect((await rt.api('GET', phase, { token: op })).body.state, 'state unchanged').toBe(state);
        }
      }
    });
  }

  it('counts 25 command transitions, 6 state-complete transitions and 71 forbidden pairs in the table it checked', () => {
    const valid = Object.values(TABLE).reduce((n, r) => n + Object.keys(r.cmd).length, 0);
    expect(valid).toBe(25);
    expect(Object.values(TABLE).filter((r) => r.sc).length).toBe(6);
    expect(12 * 8 - valid).toBe(71);
  });
});
