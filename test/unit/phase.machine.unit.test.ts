import { describe, expect, it } from '../helpers/bdd.ts';
import { pureMachine } from '../helpers/pure-machine.ts';
import { initialTransition } from 'xstate';
import { allowedCommands, phaseMachine } from '../../machines/phase.machine.ts';
import type { PhaseEvent, PhaseInput } from '../../machines/phase.machine.ts';
import {
  ISA88_COMMANDS, ISA88_MATRIX, ISA88_PATHS, ISA88_STATES,
  type Isa88Column, type Isa88Command, type Isa88State,
} from '../model/requirements/isa88-phase.ts';

type State = Isa88State;
type Command = Isa88Command;
type Column = Isa88Column;
type Snapshot = ReturnType<typeof initialTransition<typeof phaseMachine>>[0];
const pure = pureMachine<Snapshot, PhaseEvent, unknown>(phaseMachine);

const STATES = ISA88_STATES;
const COMMANDS = ISA88_COMMANDS;
const COLUMNS: Column[] = ['SC', ...COMMANDS];
const MATRIX = ISA88_MATRIX;
const PATHS = ISA88_PATHS;

const MANUAL: PhaseInput = { id: 'R201.HEAT', unit: 'R201', execution: 'manual' };
const AUTOMATIC: PhaseInput = {
  id: 'R101.HEAT', unit: 'R101', execution: 'automatic', source: 'sim', commandTag: 'R101.HEAT.CMD',
};
const READY: PhaseEvent = { type: 'UNIT_STATUS', at: 1, contextId: 'ctx-1', batchId: 'B1', clean: true, allocated: true };

let clock = 1_000;
const eventFor = (column: Column): PhaseEvent =>
  column === 'SC' ? { type: 'STATE_COMPLETE', at: ++clock, by: 'op1' } : { type: column, at: ++clock, by: 'op1' };

const send = (snapshot: Snapshot, event: PhaseEvent) => pure.send(snapshot, event);

const start = (input: PhaseInput = MANUAL, ready = true): Snapshot => {
  const [snapshot] = initialTransition(phaseMachine, input);
  return ready ? send(snapshot, READY).next : snapshot;
};

const reach = (state: State, input: PhaseInput = MANUAL): Snapshot => {
  let snapshot = start(input);
  for (const column of PATHS[state]) snapshot = send(snapshot, eventFor(column)).next;
  expect(snapshot.value).toBe(state);
  return snapshot;
};

const validCommands = (state: State): Command[] => COMMANDS.filter((c) => MATRIX[state][c] !== undefined);

describe('phase machine: ISA-88 state × event matrix (manual phase, STANDARDS.md §1.3)', () => {
  const cells = STATES.flatMap((state) => COLUMNS.map((column) => ({ state, column, target: MATRIX[state][column] })));

  it.each(cells.filter((c) => c.target))('moves $state to $target on $column', ({ state, column, target }) => {
    const { next, actions } = send(reach(state), eventFor(column));
    expect(next.value).toBe(target);
    expect(next.status).toBe('active');
    expect(actions.map((a) => a.type)).toEqual([column === 'SC' ? 'recordStateComplete' : 'recordCommand']);
    expect(actions[0]!.params).toMatchObject({ from: state, to: target, by: 'op1' });
  });

  it.each(cells.filter((c) => !c.target))('rejects $column in $state and leaves the state unchanged', ({ state, column }) => {
    const before = reach(state);
    const { next, actions } = send(before, eventFor(column));
    expect(next.value).toBe(state);
    expect(next.context).toEqual(before.context);
    expect(next.status).toBe('active');
    expect(actions).toHaveLength(1);
    expect(actions[0]!.type).toBe('reject');
    if (column === 'SC') {
      expect(actions[0]!.params).toMatchObject({ code: 'not_transient', state });
    } else {
      expect(actions[0]!.params).toMatchObject({ code: 'command_not_allowed', state, allowed: validCommands(state) });
    }
  });

  it('has exactly 25 command transitions and 6 state-complete transitions', () => {
    const landed = { command: 0, sc: 0 };
    for (const state of STATES) {
      for (const column of COLUMNS) {
        const { next } = send(reach(state), eventFor(column));
        if (next.value !== state) landed[column === 'SC' ? 'sc' : 'command'] += 1;
      }
    }
    expect(landed).toEqual({ command: 25, sc: 6 });
    const typed = STATES.flatMap((s) => COLUMNS.filter((c) => MATRIX[s][c]).map((c) => c === 'SC'));
    expect(typed.filter((sc) => !sc)).toHaveLength(25);
    expect(typed.filter((sc) => sc)).toHaveLength(6);
  });

  it.each(STATES)('lists the allowed commands of %s from the state model alone', (state) => {
    expect(allowedCommands(state)).toEqual(validCommands(state));
  });
});

describe('phase machine: permissives', () => {
  const gated: Array<{ state: State; command: Command }> = [
    { state: 'Idle', command: 'START' }, { state: 'Held', command: 'RESTART' }, { state: 'Paused', command: 'RESUME' },
  ];

  it('names every failed permissive when Start is refused on a fresh phase', () => {
    const { next, actions } = send(start(MANUAL, false), eventFor('START'));
    expect(next.value).toBe('Idle');
    expect(actions).toEqual([{
      type: 'reject',
      params: expect.objectContaining({
        code: 'permissive_failed',
        reasons: ['no context asserted on unit R201', 'unit R201 is not clean', 'unit R201 is not allocated to a batch'],
      }),
    }]);
  });

  it.each(gated)('refuses $command in $state while an interlock is active', ({ state, command }) => {
    const blocked = send(reach(state), { type: 'INTERLOCK', at: 5, id: 'R201.TT01.HIHI', active: true }).next;
    const { next, actions } = send(blocked, eventFor(command));
    expect(next.value).toBe(state);
    expect(actions[0]).toMatchObject({
      type: 'reject', params: { code: 'permissive_failed', reasons: ['interlock R201.TT01.HIHI is active on unit R201'] },
    });
  });

  it.each(gated)('refuses $command in $state while a critical exception is unsigned', ({ state, command }) => {
    const blocked = send(reach(state), { type: 'CRITICAL_EXCEPTION', at: 5, id: 'EX-7', unsigned: true }).next;
    const { actions } = send(blocked, eventFor(command));
    expect(actions[0]!.params).toMatchObject({ code: 'permissive_failed', reasons: ['critical exception EX-7 is not signed'] });
    const signed = send(blocked, { type: 'CRITICAL_EXCEPTION', at: 6, id: 'EX-7', unsigned: false }).next;
    expect(send(signed, eventFor(command)).next.value).toBe(MATRIX[state][command]);
  });

  it.each(['HOLD', 'STOP', 'ABORT'] as const)('never refuses %s for a permissive', (command) => {
    let running = reach('Running');
    running = send(running, { type: 'UNIT_STATUS', at: 5, clean: false, allocated: false }).next;
    running = send(running, { type: 'INTERLOCK', at: 6, id: 'IL-1', active: true }).next;
    running = send(running, { type: 'CRITICAL_EXCEPTION', at: 7, id: 'EX-1', unsigned: true }).next;
    const { next, actions } = send(running, eventFor(command));
    expect(next.value).toBe(MATRIX.Running[command]);
    expect(actions.map((a) => a.type)).toEqual(['recordCommand']);
  });

  it.each(STATES)('treats a repeated critical-exception notification in %s as a no-op: same state, same context, no effect', (state) => {
    for (const unsigned of [true, false]) {
      const once = send(reach(state), { type: 'CRITICAL_EXCEPTION', at: 5, id: 'EX-9', unsigned }).next;
      const { next, actions } = send(once, { type: 'CRITICAL_EXCEPTION', at: 6, id: 'EX-9', unsigned });
      expect(next.value).toBe(state);
      expect(next.context).toEqual(once.context);
      expect(next.context.permissives.unsignedCriticalExceptions).toEqual(unsigned ? ['EX-9'] : []);
      expect(actions).toEqual([]);
    }
  });

  it('clears an interlock once it is no longer active', () => {
    let idle = send(start(), { type: 'INTERLOCK', at: 5, id: 'IL-1', active: true }).next;
    idle = send(idle, { type: 'INTERLOCK', at: 6, id: 'IL-1', active: false }).next;
    expect(idle.context.permissives.interlocks).toEqual([]);
    expect(send(idle, eventFor('START')).next.value).toBe('Running');
  });
});

describe('phase machine: automatic phases follow the control system', () => {
  it('writes Start to the PLC and stays Idle until the PLC reports Running', () => {
    const idle = start(AUTOMATIC);
    const written = send(idle, { type: 'START', at: 10, by: 'op1' });
    expect(written.next.value).toBe('Idle');
    expect(written.actions).toEqual([{ type: 'writePlc', params: { source: 'sim', tag: 'R101.HEAT.CMD', value: 'START' } }]);
    expect(written.next.context.pendingCommand).toEqual({ command: 'START', at: 10, by: 'op1' });

    const reported = send(written.next, { type: 'PLC_STATE', at: 11, state: 'Running' });
    expect(reported.next.value).toBe('Running');
    expect(reported.next.context.pendingCommand).toBeUndefined();
    expect(reported.actions).toEqual([]);
  });

  it('refuses an invalid command on an automatic phase without writing to the PLC', () => {
    const { next, actions } = send(start(AUTOMATIC), { type: 'RESET', at: 10 });
    expect(next.value).toBe('Idle');
    expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'command_not_allowed' }) }]);
  });

  it('refuses Start on an automatic phase whose permissives fail, without writing to the PLC', () => {
    const { actions } = send(start(AUTOMATIC, false), { type: 'START', at: 10 });
    expect(actions.map((a) => [a.type, a.params.code])).toEqual([['reject', 'permissive_failed']]);
  });

  it('refuses commands on an automatic phase with no command tag configured', () => {
    const { next, actions } = send(start({ ...AUTOMATIC, commandTag: undefined }), { type: 'START', at: 10 });
    expect(next.value).toBe('Idle');
    expect(actions[0]!.params.code).toBe('plc_not_configured');
  });

  it('follows a reported move outside the ISA-88 table and annotates it', () => {
    const running = send(start(AUTOMATIC), { type: 'PLC_STATE', at: 11, state: 'Running' }).next;
    const { next, actions } = send(running, { type: 'PLC_STATE', at: 12, state: 'Idle' });
    expect(next.value).toBe('Idle');
    expect(actions).toEqual([{ type: 'annotate', params: { code: 'unexpected_transition', from: 'Running', to: 'Idle' } }]);
  });

  it('rejects an unknown reported state and keeps the state', () => {
    const bogus = { type: 'PLC_STATE', at: 12, state: 'Exploded' } as unknown as PhaseEvent;
    const { next, actions } = send(start(AUTOMATIC), bogus);
    expect(next.value).toBe('Idle');
    expect(actions[0]!.params.code).toBe('invalid_state');
  });

  it('rejects state reports for a manual phase', () => {
    const { next, actions } = send(start(), { type: 'PLC_STATE', at: 12, state: 'Running' });
    expect(next.value).toBe('Idle');
    expect(actions[0]!.params.code).toBe('manual_phase');
  });

  it('rejects state complete for an automatic phase', () => {
    const running = send(start(AUTOMATIC), { type: 'PLC_STATE', at: 11, state: 'Running' }).next;
    const { next, actions } = send(running, { type: 'STATE_COMPLETE', at: 12, by: 'op1' });
    expect(next.value).toBe('Running');
    expect(actions[0]!.params.code).toBe('automatic_phase');
  });
});

describe('phase machine: state complete, modes and robustness', () => {
  it('rejects state complete with state_changed when `from` differs from the current state', () => {
    const { next, actions } = send(reach('Holding'), { type: 'STATE_COMPLETE', at: 20, from: 'Running' });
    expect(next.value).toBe('Holding');
    expect(actions[0]!.params).toMatchObject({ code: 'state_changed', state: 'Holding' });
  });

  it('completes the current state when `from` matches it', () => {
    expect(send(reach('Holding'), { type: 'STATE_COMPLETE', at: 20, from: 'Holding' }).next.value).toBe('Held');
  });

  it('sets the mode and rejects an unknown one', () => {
    const semi = send(start(), { type: 'SET_MODE', at: 20, mode: 'Semi-automatic' }).next;
    expect(semi.context.mode).toBe('Semi-automatic');
    const { next, actions } = send(semi, { type: 'SET_MODE', at: 21, mode: 'Turbo' } as unknown as PhaseEvent);
    expect(next.context.mode).toBe('Semi-automatic');
    expect(actions[0]!.params.code).toBe('invalid_mode');
  });

  it.each(STATES)('rejects an unknown event in %s without throwing and stays active', (state) => {
    const before = reach(state);
    const { next, actions } = send(before, { type: 'LAUNCH', at: 30 } as unknown as PhaseEvent);
    expect(next.value).toBe(state);
    expect(next.status).toBe('active');
    expect(next.context).toEqual(before.context);
    expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'unknown_event' }) }]);
  });

  it('restores a persisted snapshot to the same state and continues from it', () => {
    const held = reach('Held');
    const stored = JSON.parse(JSON.stringify(phaseMachine.getPersistedSnapshot(held))) as { value: State; context: Snapshot['context'] };
    const restored = phaseMachine.resolveState({ value: stored.value, context: stored.context });
    expect(restored.value).toBe('Held');
    expect(restored.context).toEqual(held.context);
    const { next, actions } = send(restored, { type: 'RESTART', at: 40, by: 'op2' });
    expect(next.value).toBe('Restarting');
    expect(actions[0]!.params).toMatchObject({ from: 'Held', to: 'Restarting', by: 'op2' });
    expect(send(next, { type: 'STATE_COMPLETE', at: 41 }).next.value).toBe('Running');
  });
});
