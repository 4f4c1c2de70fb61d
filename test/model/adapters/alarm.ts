import type { AnyMachineSnapshot } from 'xstate';
import { alarmKind, type AlarmActorInput } from '../../../actors/alarm.actor.ts';
import type { ActorEvent } from '../../../actors/envelope.ts';
import { ALARM_MACHINE_VERSION, SHELVE_TIMER, alarmMachine, alarmStateName, type AlarmContext } from '../../../machines/alarm.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, rowsOf } from '../harness/rows.ts';
import { ALARM_REQUIREMENTS, ISA18_ATTRIBUTES, type AlarmEventName, type AlarmGiven, type AlarmVariant } from '../requirements/alarm.ts';

const VARIANTS: AlarmVariant[] = ['non-latching', 'latching'];

/** R201's high temperature alarm, written to the `sim` control system (CONTRACT.md §3 demo plant). */
const alarmInput = (id: string, variant: AlarmVariant): AlarmActorInput =>
  ({ id, unit: 'R201', priority: 'high', critical: true, latching: variant === 'latching', source: 'sim' });

const rows = rowsOf(ALARM_REQUIREMENTS, (t) => t.variants);

const HOUR = 3_600_000;
const AT = MODEL_T0 + 1_000;

/** The ISA-18.2 name of a snapshot (the machine's naming function, used only to read the state). */
const stateOf = (s: AnyMachineSnapshot): string => alarmStateName(s.value as never).name;

/**
 * The situation of a snapshot in requirement terms: the process/acknowledgement state under any shelving,
 * suppression or removal from service, and its §3.1 attributes (the requirement data, not the machine, says whether
 * that state has the condition true and is acknowledged); the shelving deadline held in the context.
 */
function situation(s: AnyMachineSnapshot): { condition: boolean; acked: boolean; deadline?: number } {
  const value = s.value as Record<string, string>;
  const underlying = alarmStateName({ ...value, shelving: 'NotShelved', suppression: 'NotSuppressed', service: 'InService' } as never).name;
  const attrs = ISA18_ATTRIBUTES[underlying as keyof typeof ISA18_ATTRIBUTES];
  const deadline = (s.context as AlarmContext).timers[SHELVE_TIMER];
  return { ...attrs, ...(deadline !== undefined ? { deadline } : {}) };
}

/**
 * The input a requirement row names, as the control system or a user would send it. §3.2 events are reports of the
 * control system (`alm.<src>`), except shelve expiry, the TIMER the host fires at the deadline in the context.
 * Undefined when the row's situation is not the snapshot's.
 */
function build(s: AnyMachineSnapshot, event: AlarmEventName, given: AlarmGiven | undefined): ActorEvent | undefined {
  const sit = situation(s);
  if ((given === 'condition_true' || given === 'condition_false') && sit.condition !== (given === 'condition_true')) return undefined;
  if ((given === 'acknowledged' || given === 'unacknowledged') && sit.acked !== (given === 'acknowledged')) return undefined;
  const report = (fields: Record<string, unknown>): ActorEvent => ({ type: 'REPORT', at: AT, by: 'plc:sim', active: sit.condition, ...fields });
  // The state the control system re-evaluates to on unshelve, unsuppress and return to service (§3.2: A or B),
  // reported with the §3.1 attributes of that state.
  const reevaluated = sit.condition ? { active: true, acked: false } : { active: false, acked: true, latched: false };
  const by = given === 'no_by' ? ' ' : 'op1';
  switch (event) {
    case 'ConditionTrue': return report({ active: true, value: 121.5 });
    case 'ConditionFalse': return report({ active: false, value: 80 });
    case 'Acknowledge': return report({ acked: true, ackedBy: 'hmi-op' });
    case 'ReAlarm': return report({ active: true, acked: false });
    case 'Reset': return report({ latched: false });
    case 'Shelve': return report({ shelved: true });
    case 'Suppress': return report({ suppressed: true });
    case 'RemoveFromService': return report({ outOfService: true });
    case 'Unshelve': return report({ ...reevaluated, shelved: false });
    case 'Unsuppress': return report({ ...reevaluated, suppressed: false });
    case 'ReturnToService': return report({ ...reevaluated, outOfService: false });
    case 'ShelveExpires': return sit.deadline === undefined ? undefined : { type: 'TIMER', at: sit.deadline, name: SHELVE_TIMER, by: 'timer' };
    case 'REPORT':
      switch (given) {
        case 'active_acked': return report({ active: true, acked: true, ackedBy: 'hmi-op' });
        case 'cleared_acked': return report({ active: false, acked: true, ackedBy: 'hmi-op' });
        case 'reset_acked': return report({ active: false, acked: true, latched: false, ackedBy: 'hmi-op' });
        case 'unchanged': return report({ value: 130, message: 'TT01 high' });
        case 'not_boolean': return report({ active: 'yes', value: 1 });
        default: return undefined;
      }
    case 'ACK_REQUEST': return { type: 'ACK_REQUEST', at: AT, by };
    case 'SHELVE_REQUEST': return {
      type: 'SHELVE_REQUEST', at: AT, by, reason: given === 'no_reason' ? '' : 'sensor drift, work order 42',
      until: given === 'until_not_future' ? AT : AT + HOUR,
    };
    case 'UNSHELVE_REQUEST': return { type: 'UNSHELVE_REQUEST', at: AT, by };
    case 'OUT_OF_SERVICE_REQUEST': return { type: 'OUT_OF_SERVICE_REQUEST', at: AT, by, reason: given === 'no_reason' ? '  ' : 'transmitter replaced' };
    case 'RETURN_TO_SERVICE_REQUEST': return { type: 'RETURN_TO_SERVICE_REQUEST', at: AT, by };
    case 'TIMER':
      if (given === 'before_deadline') return sit.deadline === undefined ? undefined : { type: 'TIMER', at: sit.deadline - 1, name: SHELVE_TIMER, by: 'timer' };
      if (given === 'not_shelved') return { type: 'TIMER', at: AT, name: SHELVE_TIMER, by: 'timer' };
      return { type: 'TIMER', at: AT, name: 'flood', by: 'timer' };
    case 'UNKNOWN': return { type: 'FROBNICATE', at: AT, by: 'op1' };
  }
}

/**
 * The alarm machine under the model-based tests: ISA-18.2 §3.2 (isa18-alarm.ts) and URS-ALM (alarm.ts) as the
 * oracle. The state space is the statechart value plus what the requirements tell apart: whether a shelving deadline
 * runs and whether a shelve or out-of-service request is pending (the one that supplies the deadline and reason).
 */
export const alarmAdapter: ModelAdapter = {
  name: 'alarm',
  machine: alarmMachine,
  version: ALARM_MACHINE_VERSION,
  variants: VARIANTS.map((name) => ({ name, input: (id: string) => alarmInput(id, name) })),
  kind: (actors) => alarmKind(actors as ReadonlyMap<string, AlarmActorInput>),
  events: (s, variant) => rowCandidates(rows, stateOf(s), variant, (event, given) => build(s, event as AlarmEventName, given as AlarmGiven | undefined)),
  serialize: (s) => {
    const c = s.context as AlarmContext;
    return JSON.stringify([s.value, c.timers[SHELVE_TIMER] !== undefined, c.pendingShelve !== undefined, c.pendingOutOfService !== undefined]);
  },
  stateOf,
  oracle: rowOracle(rows),
  requirements: ALARM_REQUIREMENTS.map((r) => ({
    id: r.id, text: r.text, source: r.id.startsWith('ISA') ? 'test/model/requirements/isa18-alarm.ts (STANDARDS.md §3.2)' : 'test/model/requirements/alarm.ts',
  })),
};
