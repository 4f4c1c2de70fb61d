import { describe, expect, it } from '../helpers/bdd.ts';
import { holdDecision } from '../../src/records/exception-raiser.ts';

// The raiser's hold rule (DESIGN.md principle 15; ISA-88.01 §5.7.3 Hold), decided from persisted state only.

const OPENED = 1_000;
const exc = (value: string, phase: string | null = 'R201.HEAT') =>
  ({ value, context: { source: 'alarm:R201.TT01.HI', openedAt: OPENED, ...(phase ? { phase } : {}) } });
const phase = (value: string, lastCommand?: { command: 'HOLD' | 'RESTART' | 'START'; at: number; by?: string }) =>
  ({ value, context: lastCommand ? { lastCommand } : {} });

describe('exception raiser: when a critical exception holds its phase', () => {
  it('holds a running phase for an open exception', () => {
    expect(holdDecision(exc('Open'), phase('Running', { command: 'START', at: 10, by: 'op' }))).toEqual({ hold: true, phase: 'R201.HEAT' });
  });

  it.each(['Signed', 'Closed'])('never holds for a %s exception', (status) => {
    expect(holdDecision(exc(status), phase('Running'))).toMatchObject({ hold: false, why: 'signed' });
  });

  it('does not hold twice: the phase\'s last command is this alarm\'s hold, issued after the exception opened', () => {
    const held = phase('Running', { command: 'HOLD', at: OPENED + 5, by: 'alarm:R201.TT01.HI' }); // an automatic phase, hold pending
    expect(holdDecision(exc('Acknowledged'), held)).toMatchObject({ hold: false, why: 'already_held' });
    const earlier = phase('Running', { command: 'HOLD', at: OPENED - 5, by: 'alarm:R201.TT01.HI' }); // a previous activation's hold
    expect(holdDecision(exc('Open'), earlier)).toEqual({ hold: true, phase: 'R201.HEAT' });
    const someoneElse = phase('Running', { command: 'HOLD', at: OPENED + 5, by: 'op' });
    expect(holdDecision(exc('Open'), someoneElse)).toEqual({ hold: true, phase: 'R201.HEAT' });
  });

  it.each(['Idle', 'Holding', 'Held', 'Complete', 'Stopped', 'Aborted'])('does not hold a phase in %s', (state) => {
    expect(holdDecision(exc('Open'), phase(state))).toMatchObject({ hold: false, why: 'not_holdable', state });
  });

  it('holds nothing when the exception names no phase or the phase is unknown', () => {
    expect(holdDecision(exc('Open', null), phase('Running'))).toMatchObject({ hold: false, why: 'no_phase' });
    expect(holdDecision(exc('Open'), undefined)).toMatchObject({ hold: false, why: 'no_phase' });
  });
});
