import type { AnyMachineSnapshot } from 'xstate';
import { unitKind } from '../../../actors/unit.actor.ts';
import { UNIT_MACHINE_VERSION, unitMachine } from '../../../machines/unit.machine.ts';
import type { UnitContext, UnitEvent, UnitInput } from '../../../machines/unit.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, rowsOf } from '../harness/rows.ts';
import { UNIT_REQUIREMENTS, type UnitEventName, type UnitGiven, type UnitTransition } from '../requirements/unit.ts';

const HOUR = 3_600_000;

/** Reactor R201 of the demo plant (CONTRACT.md §3), with hold times short enough to read and the equipment requirement. */
export const unitInput = (id: string, requiresSterile: boolean): UnitInput => ({
  id, phases: ['R201.HEAT'], cleanHoldMs: 72 * HOUR, dirtyHoldMs: 24 * HOUR, sterileHoldMs: 12 * HOUR,
  requiresSterile, createdAt: MODEL_T0,
});

/** The requirement data's name of a unit snapshot (test/model/requirements/unit.ts explains the names). */
export function unitStateName(s: { value: unknown; context: unknown }): string {
  const v = s.value as { availability: string; hygiene: string };
  const c = s.context as UnitContext;
  const expired = (v.hygiene === 'Dirty' || v.hygiene === 'Cleaning') && c.dirtyHoldExpired ? '-expired' : '';
  const showsClearance = v.availability === 'Available' && ['Clean', 'Sterilising', 'Sterile'].includes(v.hygiene) && c.lineClearance;
  const clearance = showsClearance ? (c.lineClearance!.batchId ? `/LineCleared(${c.lineClearance!.batchId})` : '/LineCleared') : '';
  return `${v.availability}/${v.hygiene}${expired}${clearance}`;
}

/**
 * The input a requirement row names (event and situation) in a snapshot, at time `at`; timers come at (or just
 * before) the deadline held in the context. `undefined` where the situation cannot be built there (`CREATE` is the
 * first start; a stale sequence needs an accepted one).
 */
export function unitEvent(event: UnitEventName, given: UnitGiven | undefined, s: { context: unknown }, at: number): UnitEvent | undefined {
  const c = s.context as UnitContext;
  const batchId = given === 'other_batch' ? 'B2' : 'B1';
  switch (event) {
    case 'CREATE': return undefined;
    case 'ALLOCATE': return { type: 'ALLOCATE', at, by: 'mes', batchId };
    case 'ASSERT_CONTEXT': {
      if (given === 'stale_seq' && c.lastSeq < 1) return undefined;
      const seq = given === 'invalid_seq' ? 0 : given === 'stale_seq' ? c.lastSeq : c.lastSeq + 1;
      return { type: 'ASSERT_CONTEXT', at, by: 'mes', contextId: `ctx-${batchId}-${seq}`, batchId, specVersion: '1', seq };
    }
    case 'RELEASE': return { type: 'RELEASE', at, by: 'mes', batchId };
    case 'LINE_CLEARANCE': return { type: 'LINE_CLEARANCE', at, by: 'qa1', ...(given === 'for_batch' ? { batchId: 'B1' } : {}) };
    case 'CIP_START': return { type: 'CIP_START', at, by: 'op1', ...(given === 'with_deviation' ? { deviationId: 'DEV-7' } : {}) };
    case 'CIP_COMPLETE': return { type: 'CIP_COMPLETE', at, by: 'plc:line2', ok: given !== 'failed' };
    case 'SIP_START': return { type: 'SIP_START', at, by: 'op1' };
    case 'SIP_COMPLETE': return { type: 'SIP_COMPLETE', at, by: 'plc:line2', ok: given !== 'failed' };
    case 'MAINTENANCE_START': return { type: 'MAINTENANCE_START', at, by: 'eng1', reason: given === 'no_reason' ? ' ' : 'agitator seal replaced' };
    case 'MAINTENANCE_END': return { type: 'MAINTENANCE_END', at, by: 'eng1' };
    case 'MARK_DIRTY': return { type: 'MARK_DIRTY', at, by: 'qa1', reason: 'spill' };
    case 'TIMER': {
      if (given === 'unknown_timer') return { type: 'TIMER', at, name: 'calibrationDue' };
      const [, hold, when] = /^(clean|sterile|dirty)_hold_(due|not_due)$/.exec(given ?? '') ?? [];
      const name = `${hold}Hold`;
      const deadline = c.timers[name];
      return { type: 'TIMER', name, at: deadline === undefined ? at : when === 'due' ? deadline : deadline - 1 };
    }
    case 'UNKNOWN': return { type: 'EXPLODE', at, by: 'op1' } as unknown as UnitEvent;
  }
}

const VARIANT = (t: UnitTransition) => (t.sterileRequired === undefined ? undefined : [t.sterileRequired ? 'sterile-equipment' : 'clean-equipment']);
const rows = rowsOf(UNIT_REQUIREMENTS, VARIANT);

/** The unit machine under the model-based tests, with test/model/requirements/unit.ts as the oracle. */
export const unitAdapter: ModelAdapter = {
  name: 'unit',
  machine: unitMachine,
  version: UNIT_MACHINE_VERSION,
  variants: [
    { name: 'clean-equipment', input: (id) => unitInput(id, false) },
    { name: 'sterile-equipment', input: (id) => unitInput(id, true) },
  ],
  kind: (actors) => unitKind([...(actors as ReadonlyMap<string, UnitInput>).values()]),
  events: (s, variant) => rowCandidates(rows, unitStateName(s), variant, (event, given) =>
    unitEvent(event as UnitEventName, given as UnitGiven | undefined, s, MODEL_T0 + 1_000) as never),
  // Whether a context was ever accepted decides whether a stale sequence can be built; times and ids do not matter.
  serialize: (s: AnyMachineSnapshot) => `${unitStateName(s)}|${(s.context as UnitContext).lastSeq > 0 ? 'asserted' : 'never asserted'}`,
  stateOf: (s) => unitStateName(s),
  oracle: rowOracle(rows),
  requirements: UNIT_REQUIREMENTS.map((r) => ({ id: r.id, text: r.text, source: 'test/model/requirements/unit.ts' })),
};
