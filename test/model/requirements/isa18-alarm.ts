/**
 * The ISA-18.2 (2016) / IEC 62682 alarm state transitions as requirements data, typed by hand from STANDARDS.md §3.2.
 * The alarm machine is checked against this table and never derived from it.
 */
export type Isa18State =
  | 'Normal' | 'Unacknowledged' | 'Acknowledged' | 'Returned-to-normal unacknowledged'
  | 'Latched-unacknowledged' | 'Latched-acknowledged'
  | 'Shelved' | 'Suppressed-by-design' | 'Out-of-service';

/** The events of §3.2, named after the standard's wording rather than any implementation. */
export type Isa18Event =
  | 'ConditionTrue' | 'ConditionFalse' | 'Acknowledge' | 'ReAlarm' | 'Reset'
  | 'Shelve' | 'Unshelve' | 'ShelveExpires' | 'Suppress' | 'Unsuppress' | 'RemoveFromService' | 'ReturnToService';

export interface Isa18Transition {
  from: Isa18State;
  event: Isa18Event;
  to: Isa18State;
  /** The alarm is configured latching (true), non-latching (false), or either (absent). */
  latching?: boolean;
  /** Whether the alarm condition is true when the event happens, where the target depends on it. */
  condition?: boolean;
  note?: string;
}

/** The 2016 letters, for reference only: tests compare names (STANDARDS.md §3.1). */
export const ISA18_LETTERS: Record<Isa18State, string> = {
  'Normal': 'A', 'Unacknowledged': 'B', 'Acknowledged': 'C', 'Returned-to-normal unacknowledged': 'D',
  'Latched-unacknowledged': 'E', 'Latched-acknowledged': 'F', 'Shelved': 'G', 'Suppressed-by-design': 'H',
  'Out-of-service': 'I',
};

/** The states "any of A–E" of §3.2 (2009 lettering; its E Latched is split into E and F in 2016). */
export const ISA18_IN_SERVICE_STATES: Isa18State[] = [
  'Normal', 'Unacknowledged', 'Acknowledged', 'Returned-to-normal unacknowledged',
  'Latched-unacknowledged', 'Latched-acknowledged',
];

const LATCHED = (s: Isa18State): boolean | undefined =>
  s === 'Latched-unacknowledged' || s === 'Latched-acknowledged' ? true : undefined;

/** STANDARDS.md §3.2, one row per transition. */
export const ISA18_TRANSITIONS: Isa18Transition[] = [
  { from: 'Normal', event: 'ConditionTrue', to: 'Unacknowledged' },
  { from: 'Unacknowledged', event: 'Acknowledge', to: 'Acknowledged' },
  { from: 'Unacknowledged', event: 'ConditionFalse', latching: false, to: 'Returned-to-normal unacknowledged' },
  { from: 'Unacknowledged', event: 'ConditionFalse', latching: true, to: 'Latched-unacknowledged' },
  { from: 'Acknowledged', event: 'ConditionFalse', latching: false, to: 'Normal' },
  { from: 'Acknowledged', event: 'ConditionFalse', latching: true, to: 'Latched-acknowledged', note: 'S19' },
  { from: 'Acknowledged', event: 'ReAlarm', to: 'Unacknowledged', note: 'optional (S19, S20)' },
  { from: 'Returned-to-normal unacknowledged', event: 'Acknowledge', to: 'Normal' },
  { from: 'Returned-to-normal unacknowledged', event: 'ConditionTrue', to: 'Unacknowledged', note: 'S19, S20' },
  { from: 'Latched-unacknowledged', event: 'Acknowledge', latching: true, to: 'Latched-acknowledged', note: '2016 (S19)' },
  { from: 'Latched-unacknowledged', event: 'Reset', latching: true, to: 'Returned-to-normal unacknowledged', note: '2016 (S19)' },
  { from: 'Latched-acknowledged', event: 'Reset', latching: true, to: 'Normal', note: '2016 (S19)' },
  ...ISA18_IN_SERVICE_STATES.flatMap((from): Isa18Transition[] => {
    const latching = LATCHED(from);
    const extra = latching ? { latching } : {};
    return [
      { from, event: 'Shelve', to: 'Shelved', ...extra },
      { from, event: 'Suppress', to: 'Suppressed-by-design', ...extra },
      { from, event: 'RemoveFromService', to: 'Out-of-service', ...extra },
    ];
  }),
  { from: 'Shelved', event: 'Unshelve', condition: false, to: 'Normal', note: 'S20; S19 always goes to B' },
  { from: 'Shelved', event: 'Unshelve', condition: true, to: 'Unacknowledged', note: 'S20' },
  { from: 'Shelved', event: 'ShelveExpires', condition: false, to: 'Normal', note: 'shelving timer expires' },
  { from: 'Shelved', event: 'ShelveExpires', condition: true, to: 'Unacknowledged', note: 'shelving timer expires' },
  { from: 'Suppressed-by-design', event: 'Unsuppress', condition: false, to: 'Normal', note: 're-evaluated (S20)' },
  { from: 'Suppressed-by-design', event: 'Unsuppress', condition: true, to: 'Unacknowledged', note: 're-evaluated (S20)' },
  { from: 'Out-of-service', event: 'ReturnToService', condition: false, to: 'Normal', note: 're-evaluated (S20)' },
  { from: 'Out-of-service', event: 'ReturnToService', condition: true, to: 'Unacknowledged', note: 're-evaluated (S20)' },
];

/** A path of valid events from Normal to each state (latched states need a latching alarm). */
export const ISA18_PATHS: Record<Isa18State, Isa18Event[]> = {
  'Normal': [],
  'Unacknowledged': ['ConditionTrue'],
  'Acknowledged': ['ConditionTrue', 'Acknowledge'],
  'Returned-to-normal unacknowledged': ['ConditionTrue', 'ConditionFalse'],
  'Latched-unacknowledged': ['ConditionTrue', 'ConditionFalse'],
  'Latched-acknowledged': ['ConditionTrue', 'Acknowledge', 'ConditionFalse'],
  'Shelved': ['Shelve'],
  'Suppressed-by-design': ['Suppress'],
  'Out-of-service': ['RemoveFromService'],
};

/** Operator requests permitted per state (S21): acknowledge only where something is unacknowledged. */
export const ISA18_ACKNOWLEDGEABLE: Isa18State[] = [
  'Unacknowledged', 'Returned-to-normal unacknowledged', 'Latched-unacknowledged',
];
