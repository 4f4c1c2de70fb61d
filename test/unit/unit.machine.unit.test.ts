import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { unitMachine } from '../../machines/unit.machine.ts';
import type { UnitEvent, UnitInput } from '../../machines/unit.machine.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof unitMachine>>[0];

const HOUR = 3_600_000;
const INPUT: UnitInput = { id: 'R201', phases: ['R201.HEAT', 'R201.CHARGE'], cleanHoldMs: 72 * HOUR, createdAt: 1_000 };

const send = (snapshot: Snapshot, event: UnitEvent) => {
  const [next, actions] = transition(unitMachine, snapshot, event);
  return { next, actions: actions.map((a) => ({ type: a.type, params: a.params as Record<string, unknown> })) };
};

const create = (input: UnitInput = INPUT): Snapshot => initialTransition(unitMachine, input)[0];

type AssertContext = Extract<UnitEvent, { type: 'ASSERT_CONTEXT' }>;

const assert = (seq: number, batchId = 'B1', at = 2_000): AssertContext => ({
  type: 'ASSERT_CONTEXT', at, by: 'mes', contextId: `ctx-${seq}`, batchId, specVersion: '3', seq,
});

const allocated = (): Snapshot => send(create(), assert(1)).next;

describe('unit machine: first start', () => {
  it('starts clean and available with the clean hold running from creation', () => {
    const [unit, actions] = initialTransition(unitMachine, INPUT);
    expect(unit.value).toEqual({ availability: 'Available', hygiene: 'Clean' });
    expect(unit.context).toMatchObject({ lastSeq: 0, cleanUntil: 1_000 + 72 * HOUR, timers: { cleanHold: 1_000 + 72 * HOUR } });
    expect(unit.context.allocatedTo).toBeUndefined();
    expect(actions).toEqual([]);
  });
});

describe('unit machine: context assertion and allocation (ISA-88 allocation)', () => {
  it('accepts the first assertion, allocates the unit and notifies its phases', () => {
    const { next, actions } = send(create(), { ...assert(1), unitProcedure: 'UP1', operation: 'OP1', phase: 'HEAT' });
    expect(next.value).toEqual({ availability: 'Allocated', hygiene: 'Clean' });
    expect(next.context.allocatedTo).toBe('B1');
    expect(next.context.lastSeq).toBe(1);
    expect(next.context.context).toEqual({
      contextId: 'ctx-1', batchId: 'B1', specVersion: '3', seq: 1,
      unitProcedure: 'UP1', operation: 'OP1', phase: 'HEAT', assertedAt: 2_000, by: 'mes',
    });
    expect(actions).toEqual([
      { type: 'contextAccepted', params: { contextId: 'ctx-1', batchId: 'B1', seq: 1, gap: false, previousSeq: 0 } },
      {
        type: 'notifyPhases',
        params: {
          phases: ['R201.HEAT', 'R201.CHARGE'],
          status: { contextId: 'ctx-1', batchId: 'B1', clean: true, allocated: true },
          at: 2_000,
        },
      },
    ]);
  });

  it('rejects a sequence at or below the last accepted one as stale and keeps the context', () => {
    const unit = send(allocated(), assert(5)).next;
    for (const seq of [5, 4, 1]) {
      const { next, actions } = send(unit, assert(seq));
      expect(next.context).toEqual(unit.context);
      expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'stale_sequence', lastSeq: 5 }) }]);
    }
  });

  it('rejects a sequence that is not a positive integer', () => {
    for (const seq of [0, -1, 1.5, Number.NaN]) {
      const { next, actions } = send(create(), assert(seq));
      expect(next.value).toEqual({ availability: 'Available', hygiene: 'Clean' });
      expect(actions[0]!.params.code).toBe('invalid_sequence');
    }
  });

  it('flags a gap when the sequence skips ahead, and accepts it', () => {
    const { next, actions } = send(allocated(), assert(4));
    expect(next.context.lastSeq).toBe(4);
    expect(actions[0]).toEqual({
      type: 'contextAccepted', params: { contextId: 'ctx-4', batchId: 'B1', seq: 4, gap: true, previousSeq: 1 },
    });
  });

  it('accepts a further assertion for the same batch without a gap', () => {
    const { next, actions } = send(allocated(), assert(2));
    expect(next.value).toEqual({ availability: 'Allocated', hygiene: 'Clean' });
    expect(next.context.context?.contextId).toBe('ctx-2');
    expect(actions[0]!.params.gap).toBe(false);
  });

  it('rejects an assertion for another batch while the unit is allocated (unit_in_use)', () => {
    const unit = allocated();
    const { next, actions } = send(unit, assert(2, 'B2'));
    expect(next.context).toEqual(unit.context);
    expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'unit_in_use', allocatedTo: 'B1' }) }]);
  });

  it('notifies the phases that the unit is dirty when context is asserted on a dirty unit', () => {
    const dirty = send(create(), { type: 'MARK_DIRTY', at: 1_500, by: 'qa1' }).next;
    const { actions } = send(dirty, assert(1));
    expect(actions[1]!.params.status).toEqual({ contextId: 'ctx-1', batchId: 'B1', clean: false, allocated: true });
  });
});

describe('unit machine: release', () => {
  it('releases the batch: available, context cleared, dirty, phases notified', () => {
    const { next, actions } = send(allocated(), { type: 'RELEASE', at: 3_000, by: 'mes', batchId: 'B1' });
    expect(next.value).toEqual({ availability: 'Available', hygiene: 'Dirty' });
    expect(next.context.context).toBeUndefined();
    expect(next.context.allocatedTo).toBeUndefined();
    expect(next.context.lastSeq).toBe(1);
    expect(next.context.timers).toEqual({});
    expect(actions).toEqual([{
      type: 'notifyPhases',
      params: { phases: INPUT.phases, status: { clean: false, allocated: false }, at: 3_000 },
    }]);
  });

  it('allows the next batch once released, with a higher sequence only', () => {
    const released = send(allocated(), { type: 'RELEASE', at: 3_000, by: 'mes', batchId: 'B1' }).next;
    expect(send(released, assert(1, 'B2')).actions[0]!.params.code).toBe('stale_sequence');
    expect(send(released, assert(2, 'B2')).next.context.allocatedTo).toBe('B2');
  });

  it('rejects a release by another batch and keeps the allocation', () => {
    const { next, actions } = send(allocated(), { type: 'RELEASE', at: 3_000, by: 'mes', batchId: 'B9' });
    expect(next.value).toEqual({ availability: 'Allocated', hygiene: 'Clean' });
    expect(actions[0]!.params).toMatchObject({ code: 'batch_mismatch', allocatedTo: 'B1' });
  });

  it('rejects a release of a unit that is not allocated', () => {
    const { next, actions } = send(create(), { type: 'RELEASE', at: 3_000, by: 'mes', batchId: 'B1' });
    expect(next.value).toEqual({ availability: 'Available', hygiene: 'Clean' });
    expect(actions[0]!.params.code).toBe('not_allocated');
  });
});

describe('unit machine: hygiene and the clean-hold timer', () => {
  const dueAt = INPUT.createdAt + INPUT.cleanHoldMs;
  const timer = (at: number, name = 'cleanHold'): UnitEvent => ({ type: 'TIMER', name, at });

  it('expires the clean hold when the timer falls due: dirty, deadline cleared, phases notified', () => {
    const { next, actions } = send(allocated(), timer(dueAt));
    expect(next.value).toEqual({ availability: 'Allocated', hygiene: 'Dirty' });
    expect(next.context.timers).toEqual({});
    expect(next.context.cleanUntil).toBeUndefined();
    expect(actions).toEqual([{
      type: 'notifyPhases',
      params: { phases: INPUT.phases, status: { contextId: 'ctx-1', batchId: 'B1', clean: false, allocated: true }, at: dueAt },
    }]);
  });

  it('expires a clean hold that is already past when the host delivers the timer late', () => {
    expect(send(create(), timer(dueAt + HOUR)).next.value).toMatchObject({ hygiene: 'Dirty' });
  });

  it('rejects a clean-hold timer that is not yet due and stays clean', () => {
    const { next, actions } = send(create(), timer(dueAt - 1));
    expect(next.value).toMatchObject({ hygiene: 'Clean' });
    expect(actions[0]!.params).toMatchObject({ code: 'timer_not_due', dueAt });
  });

  it('rejects a clean-hold timer on a dirty unit and an unknown timer', () => {
    const dirty = send(create(), timer(dueAt)).next;
    expect(send(dirty, timer(dueAt + 1)).actions[0]!.params.code).toBe('timer_stale');
    expect(send(create(), timer(dueAt, 'sterileHold')).actions[0]!.params.code).toBe('unknown_timer');
  });

  it('records cleaning: clean again with a new deadline from the cleaning time', () => {
    const dirty = send(create(), timer(dueAt)).next;
    const { next, actions } = send(dirty, { type: 'CLEANED', at: dueAt + 10, by: 'op1' });
    const cleanUntil = dueAt + 10 + INPUT.cleanHoldMs;
    expect(next.value).toEqual({ availability: 'Available', hygiene: 'Clean' });
    expect(next.context).toMatchObject({ cleanUntil, timers: { cleanHold: cleanUntil } });
    expect(actions).toEqual([{
      type: 'notifyPhases', params: { phases: INPUT.phases, status: { clean: true, allocated: false }, at: dueAt + 10 },
    }]);
    expect(send(next, timer(dueAt)).actions[0]!.params.code).toBe('timer_not_due');
  });

  it('marks a clean unit dirty on request', () => {
    const { next, actions } = send(create(), { type: 'MARK_DIRTY', at: 1_500, by: 'qa1', reason: 'spill' });
    expect(next.value).toEqual({ availability: 'Available', hygiene: 'Dirty' });
    expect(next.context.timers).toEqual({});
    expect(actions[0]!.params.status).toEqual({ clean: false, allocated: false });
  });
});

describe('unit machine: robustness', () => {
  it('rejects an unknown event without throwing and stays active', () => {
    const unit = allocated();
    const { next, actions } = send(unit, { type: 'EXPLODE', at: 5 } as unknown as UnitEvent);
    expect(next.status).toBe('active');
    expect(next.value).toEqual(unit.value);
    expect(next.context).toEqual(unit.context);
    expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'unknown_event' }) }]);
  });

  it('restores a persisted snapshot and continues from it', () => {
    const dirtyAllocated = send(allocated(), { type: 'MARK_DIRTY', at: 2_500 }).next;
    const stored = JSON.parse(JSON.stringify(unitMachine.getPersistedSnapshot(dirtyAllocated))) as {
      value: Snapshot['value']; context: Snapshot['context'];
    };
    const restored = unitMachine.resolveState({ value: stored.value, context: stored.context });
    expect(restored.value).toEqual({ availability: 'Allocated', hygiene: 'Dirty' });
    expect(send(restored, assert(1)).actions[0]!.params.code).toBe('stale_sequence');
    const released = send(restored, { type: 'RELEASE', at: 3_000, by: 'mes', batchId: 'B1' }).next;
    expect(released.value).toEqual({ availability: 'Available', hygiene: 'Dirty' });
  });
});
