import type { AnyMachineSnapshot } from 'xstate';
import { equipmentModuleKind } from '../../../actors/equipment-module.actor.ts';
import {
  CALIBRATION_DUE_TIMER, EQUIPMENT_MODULE_MACHINE_VERSION, REPORTED_INTERLOCK_CAUSES, equipmentModuleMachine,
  type EquipmentModuleContext, type EquipmentModuleEvent, type EquipmentModuleInput,
} from '../../../machines/equipment-module.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, rowsOf } from '../harness/rows.ts';
import { EQUIPMENT_MODULE_REQUIREMENTS, type EmEvent, type EmGiven, type EmState } from '../requirements/equipment-module.ts';

const DAY = 86_400_000;
const AT = MODEL_T0 + 1_000;

/**
 * R201's scale, calibrated at the model time every input uses, so every calibration deadline (the first and each one
 * CALIBRATED sets) is the same instant and the inputs of a reduced state do not depend on how it was reached.
 */
export const equipmentModuleInput = (id: string): EquipmentModuleInput => ({ id, unit: 'R201', calibrationIntervalMs: 30 * DAY, calibratedAt: AT });

/** The calibration deadline a snapshot holds (the stored due time once the timer has fired). */
const deadlineOf = (c: EquipmentModuleContext): number => c.timers[CALIBRATION_DUE_TIMER] ?? c.calibrationDueAt;

/**
 * The input a requirement row names (event and situation) at time `at`, for a module whose context is `c`: an
 * interlock cleared names an active reported cause (or an inactive one for `cause not active`); a calibration timer
 * fires at the deadline the context holds.
 */
export function emEvent(event: EmEvent, given: EmGiven | undefined, c: EquipmentModuleContext, at: number): EquipmentModuleEvent {
  const loose = (e: Record<string, unknown>) => e as unknown as EquipmentModuleEvent;
  const signature = { username: 'sue', meaning: 'approval', signedAt: at };
  switch (event) {
    case 'ACQUIRE':
      if (given === 'no phase') return loose({ type: 'ACQUIRE', at, by: 'op2' });
      if (given === 'no by') return loose({ type: 'ACQUIRE', at, phase: 'R201.HEAT' });
      return { type: 'ACQUIRE', at, by: 'op2', phase: 'R201.HEAT' };
    case 'RELEASE': return given === 'no by' ? loose({ type: 'RELEASE', at }) : { type: 'RELEASE', at, by: 'op1' };
    case 'INTERLOCK':
      return given === 'unknown cause' ? loose({ type: 'INTERLOCK', at, cause: 'gremlins' }) : { type: 'INTERLOCK', at, cause: 'safety_interlock' };
    case 'INTERLOCK_CLEARED': {
      if (given === 'unknown cause') return loose({ type: 'INTERLOCK_CLEARED', at, cause: 'gremlins' });
      if (given === 'calibration_due cause') return loose({ type: 'INTERLOCK_CLEARED', at, cause: 'calibration_due' });
      const inactive = given === 'cause not active';
      const cause = REPORTED_INTERLOCK_CAUSES.find((x) => c.causes.includes(x) !== inactive) ?? 'e_stop';
      return { type: 'INTERLOCK_CLEARED', at, cause };
    }
    case 'RELEASE_INTERLOCK': {
      const release = { type: 'RELEASE_INTERLOCK' as const, at, by: 'sue', signature, reason: 'interlock reset, area checked' };
      if (given === 'no reason') return { ...release, reason: ' ' };
      if (given === 'no signature') return loose({ type: 'RELEASE_INTERLOCK', at, by: 'sue', reason: 'ok' });
      if (given === 'other signer') return { ...release, signature: { ...signature, username: 'bob' } };
      if (given === 'no by') return loose({ type: 'RELEASE_INTERLOCK', at, signature, reason: 'ok' });
      return release;
    }
    case 'TAKE_OUT_OF_SERVICE':
    case 'RETURN_TO_SERVICE': {
      const reason = given === 'no reason' ? '' : event === 'TAKE_OUT_OF_SERVICE' ? 'maintenance' : 'maintenance done';
      return given === 'no by' ? loose({ type: event, at, reason }) : { type: event, at, by: 'tech', reason };
    }
    case 'CALIBRATED': return given === 'no by' ? loose({ type: 'CALIBRATED', at }) : { type: 'CALIBRATED', at, by: 'metrology' };
    case 'TIMER':
      if (given === 'not due') return { type: 'TIMER', at: deadlineOf(c) - 1, name: CALIBRATION_DUE_TIMER, by: 'timer' };
      if (given === 'unknown timer') return { type: 'TIMER', at: deadlineOf(c), name: 'sterileExpiry', by: 'timer' };
      return { type: 'TIMER', at: deadlineOf(c), name: CALIBRATION_DUE_TIMER, by: 'timer' };
    case 'UNKNOWN': return loose({ type: 'FROBNICATE', at });
  }
}

/**
 * Whether a row's situation is this snapshot's, computed from the stored facts (active causes, the acquiring phase,
 * the pending calibration deadline), not by the machine's guards. Where a row is silent about a fact that another row
 * of the same state and event names, the fact does not hold.
 */
function holds(state: EmState, event: EmEvent, given: EmGiven | undefined, c: EquipmentModuleContext): boolean {
  const active = c.causes.length > 0;
  const acquired = c.acquiredBy !== undefined;
  const reported = REPORTED_INTERLOCK_CAUSES.filter((x) => c.causes.includes(x));
  if (event === 'TIMER' && given !== 'unknown timer') return c.timers[CALIBRATION_DUE_TIMER] !== undefined;
  if (state !== 'Interlocked') return true;
  switch (event) {
    case 'INTERLOCK': return given === 'unknown cause' || (given === 'cause active') === active;
    case 'INTERLOCK_CLEARED': return given === 'cause active' ? reported.length > 0
      : given === 'cause not active' ? reported.length < REPORTED_INTERLOCK_CAUSES.length : true;
    case 'RELEASE_INTERLOCK':
      if (given === 'cause active') return active;
      if (active) return false;
      return given === undefined ? !acquired : given === 'acquired' ? acquired : true;
    case 'RELEASE': return given === 'no by' || (given === 'acquired') === acquired;
    default: return true;
  }
}

const rows = rowsOf(EQUIPMENT_MODULE_REQUIREMENTS);

/** The equipment module machine under the model-based tests, with test/model/requirements/equipment-module.ts as the oracle. */
export const equipmentModuleAdapter: ModelAdapter = {
  name: 'equipmentModule',
  machine: equipmentModuleMachine,
  version: EQUIPMENT_MODULE_MACHINE_VERSION,
  variants: [{ name: 'module', input: equipmentModuleInput }],
  kind: (actors) => equipmentModuleKind(actors as ReadonlyMap<string, EquipmentModuleInput>),
  events: (s: AnyMachineSnapshot, variant) => {
    const c = s.context as EquipmentModuleContext;
    const state = String(s.value) as EmState;
    return rowCandidates(rows, state, variant, (event, given) =>
      (holds(state, event as EmEvent, given as EmGiven | undefined, c) ? emEvent(event as EmEvent, given as EmGiven | undefined, c, AT) : undefined) as never);
  },
  // The state, the set of active causes, whether a phase holds the module and whether the calibration deadline is
  // pending; not times, details or the record of the last release.
  serialize: (s) => {
    const c = s.context as EquipmentModuleContext;
    return JSON.stringify([s.value, [...c.causes].sort(), c.acquiredBy !== undefined, c.timers[CALIBRATION_DUE_TIMER] !== undefined]);
  },
  stateOf: (s) => String(s.value),
  oracle: rowOracle(rows),
  requirements: EQUIPMENT_MODULE_REQUIREMENTS.map((r) => ({ id: r.id, text: r.text, source: 'test/model/requirements/equipment-module.ts' })),
};
