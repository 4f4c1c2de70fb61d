import { describe, expect, it } from 'vitest';
import { completionOf, nextState, parseCommand, PlcPhase, PLC_COMMANDS, PLC_STATES } from '../../src/edge/plc-phase-logic.ts';
import { ISA88_COMMANDS, ISA88_MATRIX, ISA88_STATES } from '../model/requirements/isa88-phase.ts';

describe('PLC simulator phase logic (its own ISA-88 table, checked against STANDARDS.md §1.3)', () => {
  it('knows exactly the 12 states and 8 commands', () => {
    expect([...PLC_STATES].sort()).toEqual([...ISA88_STATES].sort());
    expect([...PLC_COMMANDS].sort()).toEqual([...ISA88_COMMANDS].sort());
  });

  for (const state of ISA88_STATES) {
    it(`answers every command and state complete in ${state} as the table says`, () => {
      for (const command of ISA88_COMMANDS) expect(nextState(state, command), `${state} × ${command}`).toBe(ISA88_MATRIX[state][command]);
      expect(completionOf(state), `${state} × SC`).toBe(ISA88_MATRIX[state].SC);
    });
  }

  it('reads commands case-insensitively and ignores anything else', () => {
    expect(parseCommand(' start ')).toBe('START');
    expect(parseCommand('LAUNCH')).toBeUndefined();
    expect(parseCommand(42)).toBeUndefined();
  });

  it('completes acting states by itself once their time is up, and refuses what the table forbids', () => {
    const p = new PlcPhase('R101.CHARGE', { runningMs: 1000, transientMs: 100 });
    expect(p.state).toBe('Idle');
    expect(p.command('RESET', 0)).toBe(false);
    expect(p.state).toBe('Idle');
    expect(p.command('START', 0)).toBe(true);
    expect(p.state).toBe('Running');
    p.tick(999);
    expect(p.state).toBe('Running');
    p.tick(1000);
    expect(p.state).toBe('Complete');
    expect(p.command('HOLD', 1000)).toBe(false);
    expect(p.command('RESET', 1001)).toBe(true);
    expect(p.state).toBe('Idle');
  });
});
