import { describe, expect, it } from '../helpers/bdd.ts';
import { pureMachine, type PlainAction } from '../helpers/pure-machine.ts';
import { expectEveryNodeTraced, expectRejected } from '../helpers/requirements.ts';
import { initialTransition } from 'xstate';
import { UNIT_MACHINE_VERSION, migrateUnitSnapshot, unitMachine } from '../../machines/unit.machine.ts';
import type { UnitContext, UnitEvent, UnitInput } from '../../machines/unit.machine.ts';
import { unitEvent, unitStateName } from '../model/adapters/unit.ts';
import { UNIT_REQUIREMENTS } from '../model/requirements/unit.ts';
import type { UnitEventName, UnitGiven, UnitStateName, UnitTransition } from '../model/requirements/unit.ts';
import { expectRestoresIdentically } from '../helpers/machine-restore.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof unitMachine>>[0];
const pure = pureMachine<Snapshot, UnitEvent, unknown>(unitMachine);
type Action = PlainAction;

const HOUR = 3_600_000;
const T0 = 1_000;
const INPUT: UnitInput = {
  id: 'R201', phases: ['R201.HEAT', 'R201.CHARGE'], cleanHoldMs: 72 * HOUR, dirtyHoldMs: 24 * HOUR, sterileHoldMs: 12 * HOUR, createdAt: T0,
};
const AT = 10_000;

const create = (input: Partial<UnitInput> = {}): Snapshot => initialTransition(unitMachine, { ...INPUT, ...input })[0];

const send = (snapshot: Snapshot, event: UnitEvent) => pure.send(snapshot, event);

type Step = [UnitEventName, UnitGiven?];

/** Inputs from a fresh unit to a released (dirty) unit with one accepted context: sterile equipment is sterilised first. */
const PREFIX = (sterile: boolean): Step[] => [
  ...(sterile ? [['SIP_START'], ['SIP_COMPLETE']] as Step[] : []), ['ASSERT_CONTEXT'], ['RELEASE'],
];

const CLEAN: Step[] = [['CIP_START'], ['CIP_COMPLETE']];
const LC: Record<string, Step[]> = { '': [], '/LineCleared': [['LINE_CLEARANCE']], '/LineCleared(B1)': [['LINE_CLEARANCE', 'for_batch']] };

/** The inputs after the prefix that lead to each requirement state. */
function pathTo(state: UnitStateName): Step[] {
  const [availability, hygiene, clearance] = state.split('/') as [string, string, string?];
  const lc = LC[clearance ? `/${clearance}` : '']!;
  if (availability === 'OutOfService') return [['MAINTENANCE_START'], ...(hygiene === 'Dirty-expired' ? [['TIMER', 'dirty_hold_due']] as Step[] : [])];
  if (availability === 'Allocated') {
    const base: Step[] = hygiene === 'Sterile' ? [...CLEAN, ['LINE_CLEARANCE'], ['SIP_START'], ['SIP_COMPLETE'], ['ASSERT_CONTEXT']] : [...CLEAN, ['LINE_CLEARANCE'], ['ASSERT_CONTEXT']];
    if (hygiene === 'Dirty') return [...base, ['MARK_DIRTY']];
    if (hygiene === 'Dirty-expired') return [...base, ['MARK_DIRTY'], ['TIMER', 'dirty_hold_due']];
    return base;
  }
  switch (hygiene) {
    case 'Dirty': return [];
    case 'Dirty-expired': return [['TIMER', 'dirty_hold_due']];
    case 'Cleaning': return [['CIP_START']];
    case 'Cleaning-expired': return [['TIMER', 'dirty_hold_due'], ['CIP_START', 'with_deviation']];
    case 'Clean': return [...CLEAN, ...lc];
    case 'Sterilising': return [...CLEAN, ...lc, ['SIP_START']];
    default: return [...CLEAN, ...lc, ['SIP_START'], ['SIP_COMPLETE']];
  }
}

const apply = (snapshot: Snapshot, [event, given]: Step): Snapshot => {
  const e = unitEvent(event, given, snapshot, AT);
  if (!e) throw new Error(`no input for ${event}`);
  const { next, actions } = send(snapshot, e);
  expect(actions.filter((a) => a.type === 'reject'), `${event}${given ? `(${given})` : ''}`).toEqual([]);
  return next;
};

/** A unit in a requirement state, reached through inputs with explicit times; every path accepts one context first. */
function reach(state: UnitStateName, sterile: boolean): Snapshot {
  const snapshot = [...PREFIX(sterile), ...pathTo(state)].reduce(apply, create({ requiresSterile: sterile }));
  expect(unitStateName(snapshot)).toBe(state);
  return snapshot;
}

const label = (id: string, row: UnitTransition): string =>
  `${id}: ${row.from} --${row.event}${row.given ? `(${row.given})` : ''}${row.sterileRequired === undefined ? '' : row.sterileRequired ? ' sterile equipment' : ' clean equipment'}--> ${row.to}`;

const custom = (actions: Action[]) => actions.filter((a) => !a.type.startsWith('xstate.'));

describe('unit machine: every requirement of test/model/requirements/unit.ts', () => {
  for (const requirement of UNIT_REQUIREMENTS) {
    for (const row of requirement.transitions) {
      it(label(requirement.id, row), () => {
        const sterile = row.sterileRequired === true;
        if (row.from === 'Start') {
          const [first, actions] = initialTransition(unitMachine, { ...INPUT, requiresSterile: sterile });
          expect(unitStateName(first)).toBe(row.to);
          expect(actions).toEqual([]);
          return;
        }
        const before = reach(row.from, sterile);
        const event = unitEvent(row.event, row.given, before, AT)!;
        const { next, actions } = send(before, event);
        expect(next.status).toBe('active');
        if (row.to.startsWith('reject:')) {
          expectRejected(actions, row.to);
          expect(next.value).toEqual(before.value);
          expect(next.context).toEqual(before.context);
        } else {
          expect(unitStateName(next)).toBe(row.to);
          if (row.emits) expect(custom(actions).map((a) => a.type)).toEqual(row.emits);
        }
      });
    }
  }

  it('names a requirement of the list on every transition and state of the machine', () => expectEveryNodeTraced(unitMachine, UNIT_REQUIREMENTS));

  it('exports its version', () => {
    expect(UNIT_MACHINE_VERSION).toBe(2);
  });
});

describe('unit machine: first start', () => {
  it('starts clean, available and line-cleared with the clean hold running from creation', () => {
    const unit = create();
    expect(unit.value).toEqual({ availability: 'Available', hygiene: 'Clean' });
    expect(unit.context).toMatchObject({
      lastSeq: 0, cleanUntil: T0 + 72 * HOUR, timers: { cleanHold: T0 + 72 * HOUR }, dirtyHoldExpired: false,
      lineClearance: { by: 'system', at: T0, firstStart: true }, requiresSterile: false,
    });
  });

  it('takes default dirty- and sterile-hold times when the input has none', () => {
    const { dirtyHoldMs: _d, sterileHoldMs: _s, ...bare } = INPUT;
    expect(initialTransition(unitMachine, bare)[0].context).toMatchObject({ dirtyHoldMs: 72 * HOUR, sterileHoldMs: 24 * HOUR });
  });
});

describe('unit machine: what the phases are told (UNIT_STATUS)', () => {
  const status = (actions: Action[]) => actions.find((a) => a.type === 'notifyPhases')?.params;

  it('tells the phases the context and allocation when the MES asserts context on a line-cleared clean unit', () => {
    const { next, actions } = send(create(), unitEvent('ASSERT_CONTEXT', undefined, create(), 2_000)!);
    expect(next.value).toEqual({ availability: 'Allocated', hygiene: 'Clean' });
    expect(next.context.allocation).toEqual({ batchId: 'B1', by: 'mes', at: 2_000, via: 'context' });
    expect(status(actions)).toEqual({
      phases: INPUT.phases, status: { contextId: 'ctx-B1-1', batchId: 'B1', clean: true, allocated: true }, at: 2_000,
    });
  });

  it('counts a sterile unit as clean, and a sterilising one as not clean', () => {
    const sterilising = send(create(), { type: 'SIP_START', at: 2_000, by: 'op1' });
    expect(status(sterilising.actions)!.status).toEqual({ clean: false, allocated: false });
    const sterile = send(sterilising.next, { type: 'SIP_COMPLETE', at: 3_000, by: 'plc:line2', ok: true });
    expect(status(sterile.actions)!.status).toEqual({ clean: true, allocated: false });
    const allocated = send(sterile.next, { type: 'ALLOCATE', at: 4_000, by: 'mes', batchId: 'B1' });
    expect(status(allocated.actions)!.status).toEqual({ clean: true, allocated: true });
  });

  it('tells the phases an allocated unit is dirty when its clean hold runs out, keeping the context', () => {
    const unit = reach('Allocated/Clean', false);
    const { actions } = send(unit, { type: 'TIMER', name: 'cleanHold', at: unit.context.cleanUntil! });
    expect(status(actions)!.status).toEqual({ contextId: 'ctx-B1-2', batchId: 'B1', clean: false, allocated: true });
  });
});

describe('unit machine: hold times as absolute deadlines in context', () => {
  it('starts the clean hold when a CIP passes and ends the dirty hold', () => {
    const cleaning = reach('Available/Cleaning', false);
    const { next } = send(cleaning, { type: 'CIP_COMPLETE', at: 50_000, by: 'plc:line2', ok: true });
    expect(next.context).toMatchObject({ cleanUntil: 50_000 + 72 * HOUR, timers: { cleanHold: 50_000 + 72 * HOUR }, dirtyHoldExpired: false });
    expect(next.context.dirtyUntil).toBeUndefined();
    expect(next.context.cycle).toMatchObject({ kind: 'CIP', startedBy: 'op1', completedBy: 'plc:line2', ok: true, completedAt: 50_000 });
  });

  it('starts the dirty hold when the unit is released and stops its clock while a CIP runs; a failed CIP resumes it', () => {
    const dirty = reach('Available/Dirty', false);
    const dirtyUntil = AT + 24 * HOUR;
    expect(dirty.context).toMatchObject({ dirtyUntil, timers: { dirtyHold: dirtyUntil } });
    const cleaning = send(dirty, { type: 'CIP_START', at: 20_000, by: 'op1' }).next;
    expect(cleaning.context.timers).toEqual({});
    const failed = send(cleaning, { type: 'CIP_COMPLETE', at: 30_000, by: 'plc:line2', ok: false }).next;
    expect(failed.value).toMatchObject({ hygiene: 'Dirty' });
    expect(failed.context).toMatchObject({ dirtyUntil, timers: { dirtyHold: dirtyUntil }, cycle: { ok: false } });
  });

  it('needs a deviation for a CIP started after the dirty-hold deadline even before its timer arrived', () => {
    const dirty = reach('Available/Dirty', false);
    const late = dirty.context.dirtyUntil!;
    expect(send(dirty, { type: 'CIP_START', at: late, by: 'op1' }).actions[0]!.params).toMatchObject({ code: 'deviation_required', dirtyUntil: late });
    const { next } = send(dirty, { type: 'CIP_START', at: late, by: 'op1', deviationId: 'DEV-9' });
    expect(next.context).toMatchObject({ dirtyHoldExpired: true, cycle: { kind: 'CIP', deviationId: 'DEV-9' } });
  });

  it('expires a sterile hold to dirty and starts a dirty hold from the deadline', () => {
    const sterile = reach('Available/Sterile/LineCleared', false);
    const due = sterile.context.sterileUntil!;
    const { next } = send(sterile, { type: 'TIMER', name: 'sterileHold', at: due });
    expect(next.value).toMatchObject({ hygiene: 'Dirty' });
    expect(next.context).toMatchObject({ timers: { dirtyHold: due + 24 * HOUR }, dirtyUntil: due + 24 * HOUR });
    expect(next.context.lineClearance).toBeUndefined();
    expect(next.context.sterileUntil).toBeUndefined();
  });

  it('accepts a due timer delivered late (on rehydrate) and refuses an early one with its deadline', () => {
    const unit = create();
    const due = unit.context.cleanUntil!;
    expect(send(unit, { type: 'TIMER', name: 'cleanHold', at: due - 1 }).actions[0]!.params).toMatchObject({ code: 'timer_not_due', dueAt: due });
    expect(send(unit, { type: 'TIMER', name: 'cleanHold', at: due + HOUR }).next.value).toMatchObject({ hygiene: 'Dirty' });
  });
});

describe('unit machine: records with who and when', () => {
  it('records the line clearance with who, when and the batch', () => {
    const clean = reach('Available/Clean', false);
    const { next, actions } = send(clean, { type: 'LINE_CLEARANCE', at: 40_000, by: 'qa1', batchId: 'B7' });
    expect(next.context.lineClearance).toEqual({ by: 'qa1', at: 40_000, batchId: 'B7' });
    expect(actions).toContainEqual({ type: 'recordLineClearance', params: { by: 'qa1', at: 40_000, batchId: 'B7' } });
  });

  it('records maintenance with its reason and leaves the unit dirty after it ends', () => {
    const { next, actions } = send(create(), { type: 'MAINTENANCE_START', at: 2_000, by: 'eng1', reason: 'seal replaced' });
    expect(next.context.maintenance).toEqual({ reason: 'seal replaced', by: 'eng1', at: 2_000 });
    expect(actions).toContainEqual({ type: 'recordMaintenance', params: { step: 'start', by: 'eng1', at: 2_000, reason: 'seal replaced' } });
    const ended = send(next, { type: 'MAINTENANCE_END', at: 3_000, by: 'eng2' });
    expect(ended.next.value).toEqual({ availability: 'Available', hygiene: 'Dirty' });
    expect(ended.next.context.maintenance).toBeUndefined();
    expect(ended.actions).toContainEqual({ type: 'recordMaintenance', params: { step: 'end', by: 'eng2', at: 3_000 } });
  });

  it('records a CIP run under a deviation', () => {
    const expired = reach('Available/Dirty-expired', false);
    const { actions } = send(expired, { type: 'CIP_START', at: 60_000, by: 'op1', deviationId: 'DEV-7' });
    expect(actions).toContainEqual({ type: 'recordCycle', params: { kind: 'CIP', step: 'start', by: 'op1', at: 60_000, deviationId: 'DEV-7' } });
  });
});

describe('unit machine: restore and continue', () => {
  it('continues identically from a persisted snapshot through a whole cleaning and allocation cycle', () => {
    const dirty = reach('Allocated/Dirty', false);
    const due = dirty.context.dirtyUntil!;
    const restored = expectRestoresIdentically(unitMachine, dirty, [
      { type: 'RELEASE', at: 20_000, by: 'mes', batchId: 'B1' },
      { type: 'TIMER', name: 'dirtyHold', at: due },
      { type: 'CIP_START', at: due + 1, by: 'op1' },
      { type: 'CIP_START', at: due + 2, by: 'op1', deviationId: 'DEV-3' },
      { type: 'CIP_COMPLETE', at: due + 3, by: 'plc:line2', ok: true },
      { type: 'LINE_CLEARANCE', at: due + 4, by: 'qa1', batchId: 'B2' },
      { type: 'ALLOCATE', at: due + 5, by: 'mes', batchId: 'B2' },
    ] as UnitEvent[]);
    expect(restored.value).toEqual({ availability: 'Allocated', hygiene: 'Clean' });
    expect((restored.context as UnitContext).allocatedTo).toBe('B2');
  });

  it('continues identically from a snapshot taken mid-SIP', () => {
    const sterilising = reach('Available/Sterilising/LineCleared(B1)', false);
    expectRestoresIdentically(unitMachine, sterilising, [
      { type: 'SIP_COMPLETE', at: 70_000, by: 'plc:line2', ok: true },
      { type: 'ASSERT_CONTEXT', at: 70_001, by: 'mes', contextId: 'c', batchId: 'B1', specVersion: '1', seq: 2 },
      { type: 'TIMER', name: 'sterileHold', at: 70_000 + 12 * HOUR },
    ] as UnitEvent[]);
  });
});

describe('unit machine: migration of a version 1 snapshot', () => {
  const v1 = (hygiene: 'Clean' | 'Dirty', allocated: boolean) => ({
    value: { availability: allocated ? 'Allocated' : 'Available', hygiene },
    context: {
      id: 'R101', phases: ['R101.CHARGE'], cleanHoldMs: 72 * HOUR, lastSeq: 3,
      ...(allocated ? { allocatedTo: 'B1', context: { contextId: 'c3', batchId: 'B1', specVersion: '1', seq: 3, assertedAt: 500, by: 'mes' } } : {}),
      ...(hygiene === 'Clean' ? { cleanUntil: 9_000, timers: { cleanHold: 9_000 } } : { timers: {} }),
    },
  });

  it('keeps allocation, context and clean hold, and asks for a line clearance before the next allocation', () => {
    const migrated = migrateUnitSnapshot(1, v1('Clean', true), { dirtyHoldMs: HOUR })!;
    const unit = unitMachine.resolveState(migrated as never);
    expect(unit.value).toEqual({ availability: 'Allocated', hygiene: 'Clean' });
    expect(unit.context).toMatchObject({ allocatedTo: 'B1', lastSeq: 3, cleanUntil: 9_000, timers: { cleanHold: 9_000 }, dirtyHoldMs: HOUR });
    expect(unit.context.lineClearance).toBeUndefined();
    const released = send(unit, { type: 'RELEASE', at: 1_000, by: 'mes', batchId: 'B1' }).next;
    expect(released.value).toEqual({ availability: 'Available', hygiene: 'Dirty' });
  });

  it('treats a v1 dirty unit as past its dirty hold: cleaning it needs a deviation', () => {
    const unit = unitMachine.resolveState(migrateUnitSnapshot(1, v1('Dirty', false)) as never);
    expect(send(unit, { type: 'CIP_START', at: 1_000, by: 'op1' }).actions[0]!.params.code).toBe('deviation_required');
  });

  it('answers undefined (quarantine) for an unknown version or a malformed snapshot, and passes the current one through', () => {
    expect(migrateUnitSnapshot(7, v1('Clean', false))).toBeUndefined();
    expect(migrateUnitSnapshot(1, { value: { availability: 'Gone', hygiene: 'Clean' }, context: {} })).toBeUndefined();
    const current = { value: create().value, context: create().context as unknown as Record<string, unknown> };
    expect(migrateUnitSnapshot(UNIT_MACHINE_VERSION, current)).toBe(current);
  });
});
