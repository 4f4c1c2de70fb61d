/**
 * The alarm requirements: the ISA-18.2 state table (isa18-alarm.ts, STANDARDS.md §3.2) plus the behaviour it does not
 * cover, written by hand from the issue intent: "mirroring the state the control system reports (`alm.<src>`);
 * requests made in Phaseline (acknowledge, shelve, out of service — the last two with reason and signature) go to the
 * control system as allowlisted commands and are recorded". The alarm machine is checked against this list and never
 * derived from it.
 */
import { ISA18_IN_SERVICE_STATES, ISA18_TRANSITIONS, type Isa18Event, type Isa18State } from './isa18-alarm.ts';

/** The alarm is configured latching or non-latching (ISA-18.2 §3.2 rows depend on it). */
export type AlarmVariant = 'non-latching' | 'latching';

/** Inputs beyond the §3.2 events: requests made in Phaseline, reports of several changes at once, timers, garbage. */
export type AlarmEventName =
  | Isa18Event
  | 'ACK_REQUEST' | 'SHELVE_REQUEST' | 'UNSHELVE_REQUEST' | 'OUT_OF_SERVICE_REQUEST' | 'RETURN_TO_SERVICE_REQUEST'
  | 'REPORT' | 'TIMER' | 'UNKNOWN';

/**
 * Named situations. `condition_*` / `*acknowledged`: what the alarm condition / acknowledgement is when the event
 * happens (for states where §3.1 says "any"). The rest describe the input: a request missing its user, reason or a
 * future expiry; a report carrying several changes at once, no change, or no boolean `active`; a timer before its
 * deadline, while not shelved, or of an unknown name.
 */
export type AlarmGiven =
  | 'condition_true' | 'condition_false' | 'acknowledged' | 'unacknowledged'
  | 'no_by' | 'no_reason' | 'until_not_future'
  | 'active_acked' | 'cleared_acked' | 'reset_acked' | 'unchanged' | 'not_boolean'
  | 'before_deadline' | 'not_shelved' | 'unknown_name';

export interface AlarmRow {
  from: Isa18State;
  event: AlarmEventName;
  to: Isa18State | `reject:${string}`;
  given?: AlarmGiven;
  variants?: AlarmVariant[];
}

export interface AlarmRequirement { id: string; text: string; transitions: AlarmRow[] }

/**
 * STANDARDS.md §3.1 attributes of the states A–F: is the process abnormal (the alarm condition true), is the alarm
 * acknowledged. Shelved, suppressed by design and out of service are "any".
 */
export const ISA18_ATTRIBUTES: Record<Exclude<Isa18State, 'Shelved' | 'Suppressed-by-design' | 'Out-of-service'>, { condition: boolean; acked: boolean }> = {
  'Normal': { condition: false, acked: true },
  'Unacknowledged': { condition: true, acked: false },
  'Acknowledged': { condition: true, acked: true },
  'Returned-to-normal unacknowledged': { condition: false, acked: false },
  'Latched-unacknowledged': { condition: false, acked: false },
  'Latched-acknowledged': { condition: false, acked: true },
};

const IN_SERVICE = ISA18_IN_SERVICE_STATES;
const REMOVED: Isa18State[] = ['Shelved', 'Suppressed-by-design', 'Out-of-service'];
const ALL: Isa18State[] = [...IN_SERVICE, ...REMOVED];
const LATCHED: Isa18State[] = ['Latched-unacknowledged', 'Latched-acknowledged'];
const UNACKED = IN_SERVICE.filter((s) => !ISA18_ATTRIBUTES[s as keyof typeof ISA18_ATTRIBUTES].acked);
const ACKED = IN_SERVICE.filter((s) => ISA18_ATTRIBUTES[s as keyof typeof ISA18_ATTRIBUTES].acked);
const latchingOnly = (s: Isa18State): { variants?: AlarmVariant[] } => (LATCHED.includes(s) ? { variants: ['latching'] } : {});

export const ALARM_REQUIREMENTS: AlarmRequirement[] = [
  {
    id: 'ISA-18.2 §3.2',
    text: 'The alarm moves as the ISA-18.2 (2016) transition table says, as reported by the control system: condition true/false, acknowledge, re-alarm, reset, shelve/unshelve (and shelving timer expiry), designed suppression/unsuppression, removal from/return to service (STANDARDS.md §3.2).',
    transitions: ISA18_TRANSITIONS.map((t): AlarmRow => ({
      from: t.from, event: t.event, to: t.to,
      ...(t.condition === undefined ? {} : { given: t.condition ? 'condition_true' : 'condition_false' }),
      ...(t.latching === undefined ? {} : { variants: [t.latching ? 'latching' : 'non-latching'] }),
    })),
  },
  {
    id: 'URS-ALM-001',
    text: 'The alarm mirrors the state the control system reports (`alm.<src>`): a report carrying several changes at once (active and acknowledged; cleared and acknowledged; reset and acknowledged) lands in the state the control system is in.',
    transitions: [
      ...(['Normal', 'Returned-to-normal unacknowledged', 'Latched-unacknowledged', 'Latched-acknowledged'] as Isa18State[])
        .map((from): AlarmRow => ({ from, event: 'REPORT', given: 'active_acked', to: 'Acknowledged', ...latchingOnly(from) })),
      { from: 'Unacknowledged', event: 'REPORT', given: 'cleared_acked', to: 'Normal', variants: ['non-latching'] },
      { from: 'Unacknowledged', event: 'REPORT', given: 'cleared_acked', to: 'Latched-acknowledged', variants: ['latching'] },
      { from: 'Latched-unacknowledged', event: 'REPORT', given: 'reset_acked', to: 'Normal', variants: ['latching'] },
    ],
  },
  {
    id: 'URS-ALM-002',
    text: 'A latched alarm whose condition becomes true again is a new activation: Unacknowledged.',
    transitions: LATCHED.map((from): AlarmRow => ({ from, event: 'ConditionTrue', to: 'Unacknowledged', variants: ['latching'] })),
  },
  {
    id: 'URS-ALM-003',
    text: 'While shelved, suppressed by design or out of service the alarm keeps mirroring the reported process condition, and stays shelved, suppressed or out of service.',
    transitions: REMOVED.flatMap((from): AlarmRow[] => [
      { from, event: 'ConditionTrue', given: 'condition_false', to: from },
      { from, event: 'ConditionFalse', given: 'condition_true', to: from },
    ]),
  },
  {
    id: 'URS-ALM-004',
    text: 'A report without a state change (same condition, new value or message) keeps the state; a report without a boolean `active` is refused (invalid_report) and changes nothing.',
    transitions: ALL.flatMap((from): AlarmRow[] => [
      { from, event: 'REPORT', given: 'unchanged', to: from },
      { from, event: 'REPORT', given: 'not_boolean', to: 'reject:invalid_report' },
    ]),
  },
  {
    id: 'URS-ALM-005',
    text: 'An acknowledge request made in Phaseline by a named user, while something is unacknowledged, goes to the control system as an `ack` command and is recorded; the state changes only when the control system reports it. Without a user it is refused (by_required); with nothing to acknowledge it is refused (already_acknowledged).',
    transitions: [
      ...UNACKED.flatMap((from): AlarmRow[] => [
        { from, event: 'ACK_REQUEST', to: from, ...latchingOnly(from) },
        { from, event: 'ACK_REQUEST', given: 'no_by', to: 'reject:by_required', ...latchingOnly(from) },
      ]),
      ...ACKED.map((from): AlarmRow => ({ from, event: 'ACK_REQUEST', to: 'reject:already_acknowledged', ...latchingOnly(from) })),
      ...REMOVED.flatMap((from): AlarmRow[] => [
        { from, event: 'ACK_REQUEST', given: 'unacknowledged', to: from },
        { from, event: 'ACK_REQUEST', given: 'acknowledged', to: 'reject:already_acknowledged' },
      ]),
    ],
  },
  {
    id: 'URS-ALM-006',
    text: 'A shelve request by a named user with a reason and an expiry after the request goes to the control system as a `shelve` command and is recorded; the alarm is shelved when the control system reports it, and the expiry becomes the shelving deadline. It is refused without a user (by_required), without a reason (reason_required), with an expiry not in the future (invalid_shelve_expiry), when already shelved (already_shelved), suppressed by design (suppressed_by_design) or out of service (out_of_service).',
    transitions: [
      ...IN_SERVICE.flatMap((from): AlarmRow[] => [
        { from, event: 'SHELVE_REQUEST', to: from, ...latchingOnly(from) },
        { from, event: 'SHELVE_REQUEST', given: 'no_by', to: 'reject:by_required', ...latchingOnly(from) },
        { from, event: 'SHELVE_REQUEST', given: 'no_reason', to: 'reject:reason_required', ...latchingOnly(from) },
        { from, event: 'SHELVE_REQUEST', given: 'until_not_future', to: 'reject:invalid_shelve_expiry', ...latchingOnly(from) },
      ]),
      { from: 'Shelved', event: 'SHELVE_REQUEST', to: 'reject:already_shelved' },
      { from: 'Suppressed-by-design', event: 'SHELVE_REQUEST', to: 'reject:suppressed_by_design' },
      { from: 'Out-of-service', event: 'SHELVE_REQUEST', to: 'reject:out_of_service' },
    ],
  },
  {
    id: 'URS-ALM-007',
    text: 'An unshelve request by a named user goes to the control system as an `unshelve` command and is recorded; the alarm stays shelved until the control system reports it unshelved. It is refused without a user (by_required) and when the alarm is not shelved (not_shelved).',
    transitions: [
      { from: 'Shelved', event: 'UNSHELVE_REQUEST', to: 'Shelved' },
      { from: 'Shelved', event: 'UNSHELVE_REQUEST', given: 'no_by', to: 'reject:by_required' },
      ...ALL.filter((s) => s !== 'Shelved').map((from): AlarmRow => ({ from, event: 'UNSHELVE_REQUEST', to: 'reject:not_shelved', ...latchingOnly(from) })),
    ],
  },
  {
    id: 'URS-ALM-008',
    text: 'An out-of-service request by a named user with a reason goes to the control system as an `outOfService` command and is recorded; the alarm is out of service when the control system reports it. It is refused without a user (by_required), without a reason (reason_required), when shelved (shelved), suppressed by design (suppressed_by_design) or already out of service (already_out_of_service).',
    transitions: [
      ...IN_SERVICE.flatMap((from): AlarmRow[] => [
        { from, event: 'OUT_OF_SERVICE_REQUEST', to: from, ...latchingOnly(from) },
        { from, event: 'OUT_OF_SERVICE_REQUEST', given: 'no_by', to: 'reject:by_required', ...latchingOnly(from) },
        { from, event: 'OUT_OF_SERVICE_REQUEST', given: 'no_reason', to: 'reject:reason_required', ...latchingOnly(from) },
      ]),
      { from: 'Shelved', event: 'OUT_OF_SERVICE_REQUEST', to: 'reject:shelved' },
      { from: 'Suppressed-by-design', event: 'OUT_OF_SERVICE_REQUEST', to: 'reject:suppressed_by_design' },
      { from: 'Out-of-service', event: 'OUT_OF_SERVICE_REQUEST', to: 'reject:already_out_of_service' },
    ],
  },
  {
    id: 'URS-ALM-009',
    text: 'A return-to-service request by a named user goes to the control system as a `returnToService` command and is recorded; the alarm stays out of service until the control system reports it back in service. It is refused without a user (by_required) and when the alarm is in service (not_out_of_service).',
    transitions: [
      { from: 'Out-of-service', event: 'RETURN_TO_SERVICE_REQUEST', to: 'Out-of-service' },
      { from: 'Out-of-service', event: 'RETURN_TO_SERVICE_REQUEST', given: 'no_by', to: 'reject:by_required' },
      ...ALL.filter((s) => s !== 'Out-of-service').map((from): AlarmRow => ({ from, event: 'RETURN_TO_SERVICE_REQUEST', to: 'reject:not_out_of_service', ...latchingOnly(from) })),
    ],
  },
  {
    id: 'URS-ALM-010',
    text: 'The shelving timer fires only at its deadline: before it, it is refused (timer_not_due) and the alarm stays shelved; when the alarm is not shelved it is refused (timer_stale); a timer of an unknown name is refused (unknown_timer).',
    transitions: [
      { from: 'Shelved', event: 'TIMER', given: 'before_deadline', to: 'reject:timer_not_due' },
      ...ALL.filter((s) => s !== 'Shelved').map((from): AlarmRow => ({ from, event: 'TIMER', given: 'not_shelved', to: 'reject:timer_stale', ...latchingOnly(from) })),
      ...ALL.map((from): AlarmRow => ({ from, event: 'TIMER', given: 'unknown_name', to: 'reject:unknown_timer', ...latchingOnly(from) })),
    ],
  },
  {
    id: 'URS-ALM-011',
    text: 'An unknown input is refused with a reason (unknown_event) and changes nothing.',
    transitions: ALL.map((from): AlarmRow => ({ from, event: 'UNKNOWN', to: 'reject:unknown_event', ...latchingOnly(from) })),
  },
];
