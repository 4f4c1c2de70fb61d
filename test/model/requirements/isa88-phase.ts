/**
 * The ISA-88 procedural element state model as requirements data, typed by hand from STANDARDS.md §1.3 (IEC 61512-1
 * §5.7). Every implementation of it — the phase machine, the HTTP API, the PLC simulator — is checked against this
 * table and never derived from it.
 */
export type Isa88State =
  | 'Idle' | 'Running' | 'Complete' | 'Pausing' | 'Paused' | 'Holding'
  | 'Held' | 'Restarting' | 'Stopping' | 'Stopped' | 'Aborting' | 'Aborted';
export type Isa88Command = 'START' | 'STOP' | 'HOLD' | 'RESTART' | 'ABORT' | 'RESET' | 'PAUSE' | 'RESUME';
/** `SC`: state complete, the transient state's own logic has finished. */
export type Isa88Column = 'SC' | Isa88Command;

export const ISA88_STATES: Isa88State[] = [
  'Idle', 'Running', 'Complete', 'Pausing', 'Paused', 'Holding',
  'Held', 'Restarting', 'Stopping', 'Stopped', 'Aborting', 'Aborted',
];
export const ISA88_COMMANDS: Isa88Command[] = ['START', 'STOP', 'HOLD', 'RESTART', 'ABORT', 'RESET', 'PAUSE', 'RESUME'];

/** STANDARDS.md §1.3: state × event → target; an absent cell is invalid (reject, state unchanged). */
export const ISA88_MATRIX: Record<Isa88State, Partial<Record<Isa88Column, Isa88State>>> = {
  Idle: { START: 'Running' },
  Running: { SC: 'Complete', STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting', PAUSE: 'Pausing' },
  Complete: { RESET: 'Idle' },
  Pausing: { SC: 'Paused', STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting' },
  Paused: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting', RESUME: 'Running' },
  Holding: { SC: 'Held', STOP: 'Stopping', ABORT: 'Aborting' },
  Held: { STOP: 'Stopping', RESTART: 'Restarting', ABORT: 'Aborting' },
  Restarting: { SC: 'Running', STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting' },
  Stopping: { SC: 'Stopped', ABORT: 'Aborting' },
  Stopped: { ABORT: 'Aborting', RESET: 'Idle' },
  Aborting: { SC: 'Aborted' },
  Aborted: { RESET: 'Idle' },
};

/** A path of valid events from Idle to each state. */
export const ISA88_PATHS: Record<Isa88State, Isa88Column[]> = {
  Idle: [],
  Running: ['START'],
  Complete: ['START', 'SC'],
  Pausing: ['START', 'PAUSE'],
  Paused: ['START', 'PAUSE', 'SC'],
  Holding: ['START', 'HOLD'],
  Held: ['START', 'HOLD', 'SC'],
  Restarting: ['START', 'HOLD', 'SC', 'RESTART'],
  Stopping: ['START', 'STOP'],
  Stopped: ['START', 'STOP', 'SC'],
  Aborting: ['START', 'ABORT'],
  Aborted: ['START', 'ABORT', 'SC'],
};
