import { describe, expect, it } from '../helpers/bdd.ts';
import { pureMachine, type PlainAction } from '../helpers/pure-machine.ts';
import { expectEveryNodeTraced, itEveryRequirementRow } from '../helpers/requirements.ts';
import { initialTransition } from 'xstate';
import { EXCEPTION_MACHINE_VERSION, EXCEPTION_STATES, exceptionMachine } from '../../machines/exception.machine.ts';
import type { ExceptionEvent, ExceptionInput, SignatureInput } from '../../machines/exception.machine.ts';
import { EXCEPTION_REQUIREMENTS } from '../model/requirements/exception.ts';
import type { ExceptionGiven, ExceptionStateName, ExceptionTransition } from '../model/requirements/exception.ts';
import { expectRestoresIdentically } from '../helpers/machine-restore.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof exceptionMachine>>[0];
const pure = pureMachine<Snapshot, ExceptionEvent, ExceptionInput>(exceptionMachine);
type Action = PlainAction;

const INPUT: ExceptionInput = {
  id: 'EXC-7', kind: 'alarm', critical: false, source: 'alm.line2', batchId: 'B1', phase: 'R201.HEAT',
  openedAt: 1_000, openedBy: 'system', description: 'R201.TT01.HI active during heating',
  secondSignerRoles: ['supervisor', 'qa'], closeRoles: ['qa'],
};

const create = (input: Partial<ExceptionInput> = {}) => pure.create({ ...INPUT, ...input });

const send = (snapshot: Snapshot, event: ExceptionEvent) => pure.send(snapshot, event);

const sig = (username: string, meaning: SignatureInput['meaning'], signedAt: number, roles: string[], name?: string): SignatureInput =>
  ({ username, meaning, signedAt, roles, ...(name ? { name } : {}) });

const SIGNATURES: Record<'one' | 'two', SignatureInput[]> = {
  one: [sig('op1', 'performed', 3_900, ['operator'], 'Olga Petrova')],
  two: [sig('op1', 'performed', 3_900, ['operator'], 'Olga Petrova'), sig('sup1', 'reviewed', 3_950, ['supervisor'], 'Sam Upton')],
};

/** The inputs that move a fresh exception into each state, with explicit, increasing times. */
const PATH = (critical: boolean): Record<Exclude<ExceptionStateName, 'Open'>, ExceptionEvent> => ({
  Acknowledged: { type: 'ACKNOWLEDGE', at: 2_000, by: 'op1' },
  Investigated: { type: 'INVESTIGATE', at: 3_000, by: 'op1', cause: 'sensor drift', action: 'recalibrated TT01' },
  Signed: { type: 'SIGN', at: 4_000, signatures: critical ? SIGNATURES.two : SIGNATURES.one },
  Closed: { type: 'CLOSE', at: 5_000, by: 'qa1', roles: ['qa'] },
});

const reach = (state: ExceptionStateName, critical: boolean, input: Partial<ExceptionInput> = {}): Snapshot => {
  let snapshot = create({ ...input, critical }).snapshot;
  const path = PATH(critical);
  for (const step of EXCEPTION_STATES.slice(1, EXCEPTION_STATES.indexOf(state) + 1)) {
    snapshot = send(snapshot, path[step as keyof typeof path]).next;
  }
  expect(snapshot.value).toBe(state);
  return snapshot;
};

const AT = 10_000;

/** The input a requirement row names, built from its event and situation. */
function eventFor(row: ExceptionTransition): ExceptionEvent {
  const by = row.given === 'no_by' ? '' : 'qa1';
  const given: ExceptionGiven | undefined = row.given;
  switch (row.event) {
    case 'ACKNOWLEDGE': return { type: 'ACKNOWLEDGE', at: given === 'no_at' ? Number.NaN : AT, by };
    case 'INVESTIGATE': return {
      type: 'INVESTIGATE', at: AT, by,
      cause: given === 'no_cause' ? '' : given === 'blank_cause' ? '   ' : 'thermocouple loose',
      action: given === 'no_action' ? '' : 'tightened and verified',
    };
    case 'SIGN': {
      const signatures: Partial<Record<ExceptionGiven, SignatureInput[]>> = {
        one_signature: SIGNATURES.one,
        two_distinct: SIGNATURES.two,
        same_user_twice: [sig('op1', 'performed', AT, ['operator']), sig('op1', 'reviewed', AT, ['supervisor'])],
        second_without_role: [sig('op1', 'performed', AT, ['operator']), sig('op2', 'reviewed', AT, ['operator'])],
        no_signatures: [],
        bad_meaning: [{ ...sig('op1', 'performed', AT, ['operator']), meaning: 'authored' as never }],
      };
      return { type: 'SIGN', at: AT, signatures: (given && signatures[given]) ?? SIGNATURES.two };
    }
    case 'CLOSE': return { type: 'CLOSE', at: AT, by, roles: given === 'closer_without_role' ? ['supervisor'] : ['qa'] };
    case 'ADDENDUM': return { type: 'ADDENDUM', at: AT, by, text: given === 'empty_text' ? ' ' : 'TT01 serial number corrected' };
    case 'UNKNOWN': return { type: 'REOPEN', at: AT, by } as unknown as ExceptionEvent;
    case 'OPEN': throw new Error('OPEN is the creation, not an input');
  }
}

describe('exception machine: every requirement of test/model/requirements/exception.ts', () => {
  itEveryRequirementRow(EXCEPTION_REQUIREMENTS, {
    label: (row) => (row.critical === undefined ? '' : row.critical ? ' critical' : ' non-critical'),
    create: (row) => {
      const { snapshot, actions } = create({ critical: row.critical ?? false, ...(row.given === 'no_batch' ? { batchId: undefined } : {}) });
      return { next: snapshot, actions };
    },
    reach: (row) => reach(row.from as ExceptionStateName, row.critical ?? false),
    send: (before, row) => send(before, eventFor(row)),
  });

  it('names a requirement of the list on every transition and state of the machine', () => expectEveryNodeTraced(exceptionMachine, EXCEPTION_REQUIREMENTS));

  it('exports its version and state names', () => {
    expect(EXCEPTION_MACHINE_VERSION).toBe(1);
    expect(Object.keys(exceptionMachine.root.states)).toEqual([...EXCEPTION_STATES]);
  });
});

describe('exception machine: notifications to batch and phase', () => {
  it('tells the batch and phase of a critical exception that it is open and unsigned, at the opening time', () => {
    const { actions } = create({ critical: true });
    expect(actions).toEqual([
      { type: 'notifyBatch', params: { batchId: 'B1', exception: 'EXC-7', open: true, critical: true, at: 1_000 } },
      { type: 'notifyPhase', params: { phase: 'R201.HEAT', exception: 'EXC-7', unsigned: true, at: 1_000 } },
    ]);
  });

  it('does not hold the phase for a non-critical exception, nor notify a phase or batch it does not have', () => {
    expect(create({ critical: false }).actions.map((a) => a.type)).toEqual(['notifyBatch']);
    expect(create({ critical: true, phase: undefined, batchId: undefined }).actions).toEqual([]);
  });

  it('releases the phase when a critical exception is signed and the batch when it is closed', () => {
    const signed = send(reach('Investigated', true), PATH(true).Signed);
    expect(signed.actions.at(-1)).toEqual({ type: 'notifyPhase', params: { phase: 'R201.HEAT', exception: 'EXC-7', unsigned: false, at: 4_000 } });
    const closed = send(signed.next, PATH(true).Closed);
    expect(closed.actions).toEqual([
      { type: 'recordClose', params: { exception: 'EXC-7', at: 5_000, by: 'qa1', critical: true } },
      { type: 'notifyBatch', params: { batchId: 'B1', exception: 'EXC-7', open: false, critical: true, at: 5_000 } },
    ]);
    expect(closed.next.context.closed).toEqual({ at: 5_000, by: 'qa1' });
  });
});

describe('exception machine: signatures (21 CFR 11.50, 11.70)', () => {
  it('keeps the manifestation (printed name, date and time, meaning) and records it with the signed content', () => {
    const { next, actions } = send(reach('Investigated', true), PATH(true).Signed);
    const manifestation = [
      { username: 'op1', printedName: 'Olga Petrova', meaning: 'performed', signedAt: 3_900, roles: ['operator'] },
      { username: 'sup1', printedName: 'Sam Upton', meaning: 'reviewed', signedAt: 3_950, roles: ['supervisor'] },
    ];
    expect(next.context.signatures).toEqual(manifestation);
    expect(next.context.signedAt).toBe(4_000);
    expect(actions[0]).toEqual({
      type: 'recordSignatures',
      params: {
        exception: 'EXC-7', at: 4_000, signatures: manifestation,
        content: {
          id: 'EXC-7', kind: 'alarm', critical: true, description: INPUT.description,
          cause: 'sensor drift', action: 'recalibrated TT01',
        },
      },
    });
  });

  it('prints the username when no full name is given', () => {
    const { next } = send(reach('Investigated', false), { type: 'SIGN', at: 4_000, signatures: [sig('op1', 'approved', 3_999, [])] });
    expect(next.context.signatures[0]).toMatchObject({ username: 'op1', printedName: 'op1', meaning: 'approved', signedAt: 3_999 });
  });

  it('appends addenda in order without altering signed fields', () => {
    const signed = reach('Signed', true);
    const first = send(signed, { type: 'ADDENDUM', at: 6_000, by: 'qa1', text: 'serial number was 4471, not 4417' });
    expect(first.actions).toEqual([{
      type: 'recordAddendum', params: { exception: 'EXC-7', at: 6_000, by: 'qa1', text: 'serial number was 4471, not 4417', index: 0 },
    }]);
    const closed = send(first.next, PATH(true).Closed).next;
    const second = send(closed, { type: 'ADDENDUM', at: 7_000, by: 'sup1', text: 'work order 88 attached' });
    expect(second.actions[0]!.params.index).toBe(1);
    expect(second.next.context.addenda).toEqual([
      { at: 6_000, by: 'qa1', text: 'serial number was 4471, not 4417' },
      { at: 7_000, by: 'sup1', text: 'work order 88 attached' },
    ]);
    const { addenda: _a, closed: _c, ...signedFields } = signed.context;
    const { addenda: _b, closed: _d, ...afterFields } = second.next.context;
    expect(afterFields).toEqual(signedFields);
  });

  it('records the previous cause and action when an unsigned investigation is revised', () => {
    const { next, actions } = send(reach('Investigated', false), { type: 'INVESTIGATE', at: 3_500, by: 'op2', cause: 'wiring fault', action: 'rewired' });
    expect(next.context.investigation).toEqual({ at: 3_500, by: 'op2', cause: 'wiring fault', action: 'rewired' });
    expect(actions[0]!.params.previous).toEqual({ at: 3_000, by: 'op1', cause: 'sensor drift', action: 'recalibrated TT01' });
  });
});

describe('exception machine: robustness', () => {
  const states: ExceptionStateName[] = [...EXCEPTION_STATES];

  it('never throws on unknown or malformed input and stays active with the context unchanged', () => {
    const junk = [
      { type: 'REOPEN', at: AT },
      { type: 'xstate.init', at: AT },
      { type: 'SIGN', at: AT, signatures: 'all of them' },
      { type: 'SIGN', at: AT, signatures: [null, 42] },
      { type: 'SIGN', at: AT },
      { type: 'INVESTIGATE', at: AT, by: 'op1', cause: 42, action: null },
      { type: 'INVESTIGATE', at: AT },
      { type: 'CLOSE', at: AT, by: ['qa1'], roles: 'qa' },
      { type: 'CLOSE', at: 'yesterday', by: 'qa1', roles: ['qa'] },
      { type: 'ADDENDUM', by: 'qa1', text: 'no time' },
      { type: 'SIGN', at: Number.NaN, signatures: [{ username: 'op1', meaning: 'performed', signedAt: AT, roles: [] }] },
      { type: 'ADDENDUM', at: AT, by: 7, text: {} },
      { type: 'ACKNOWLEDGE', at: AT, by: null },
    ] as unknown as ExceptionEvent[];
    for (const critical of [false, true]) {
      for (const state of states) {
        const snapshot = reach(state, critical);
        for (const event of junk) {
          const { next, actions } = send(snapshot, event);
          expect(next.status, `${state} ${event.type}`).toBe('active');
          if (event.type !== 'xstate.init' as string) {
            expect(next.value).toBe(state);
            expect(next.context).toEqual(snapshot.context);
            expect(actions.map((a) => a.type)).toEqual(['reject']);
          }
        }
      }
    }
  });

  it('continues identically from a persisted { value, context } restored with resolveState', () => {
    const rest: ExceptionEvent[] = [
      { type: 'INVESTIGATE', at: 3_000, by: 'op1', cause: 'sensor drift', action: 'recalibrated TT01' },
      { type: 'SIGN', at: 4_000, signatures: SIGNATURES.one },
      { type: 'SIGN', at: 4_100, signatures: SIGNATURES.two },
      { type: 'ADDENDUM', at: 4_500, by: 'qa1', text: 'note' },
      { type: 'CLOSE', at: 5_000, by: 'sup1', roles: ['supervisor'] },
      { type: 'CLOSE', at: 5_100, by: 'qa1', roles: ['qa'] },
    ];
    const restored = expectRestoresIdentically(exceptionMachine, reach('Acknowledged', true), rest);
    expect(restored.value).toBe('Closed');
  });
});
