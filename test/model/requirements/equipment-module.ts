/**
 * The equipment module user requirements as data, typed by hand from the brief (not derived from the machine).
 * The equipment module machine is checked against this list; `to` is a state or `reject:<code>` (state unchanged).
 */
export type EmState = 'Ready' | 'Running' | 'Interlocked' | 'OutOfService';
export type EmEvent =
  | 'ACQUIRE' | 'RELEASE' | 'INTERLOCK' | 'INTERLOCK_CLEARED' | 'RELEASE_INTERLOCK'
  | 'TAKE_OUT_OF_SERVICE' | 'RETURN_TO_SERVICE' | 'CALIBRATED' | 'TIMER' | 'UNKNOWN';
/** A precondition or a variant of the event, in words; the test turns each into a snapshot or an event. */
export type EmGiven =
  | 'acquired' | 'cause active' | 'no phase' | 'no by' | 'no reason' | 'no signature' | 'other signer'
  | 'unknown cause' | 'cause not active' | 'calibration_due cause' | 'not due' | 'unknown timer';
export interface EmTransition { from: EmState; event: EmEvent; given?: EmGiven; to: EmState | `reject:${string}`; emits?: string[] }
export interface EmRequirement { id: string; text: string; transitions: EmTransition[] }

const ALL: EmState[] = ['Ready', 'Running', 'Interlocked', 'OutOfService'];

export const EQUIPMENT_MODULE_REQUIREMENTS: EmRequirement[] = [
  {
    id: 'URS-EM-001',
    text: 'A Ready equipment module is acquired by a phase (ACQUIRE names the user and the phase) and is then Running.',
    transitions: [
      { from: 'Ready', event: 'ACQUIRE', to: 'Running' },
      { from: 'Ready', event: 'ACQUIRE', given: 'no phase', to: 'reject:phase_required' },
      { from: 'Ready', event: 'ACQUIRE', given: 'no by', to: 'reject:by_required' },
    ],
  },
  {
    id: 'URS-EM-002',
    text: 'A Running module is held by one phase: a second ACQUIRE is refused; RELEASE, naming the user, returns it to Ready; RELEASE of a module not acquired is refused.',
    transitions: [
      { from: 'Running', event: 'ACQUIRE', to: 'reject:in_use' },
      { from: 'Running', event: 'RELEASE', to: 'Ready' },
      { from: 'Ready', event: 'RELEASE', to: 'reject:not_acquired' },
      { from: 'OutOfService', event: 'RELEASE', to: 'reject:not_acquired' },
      { from: 'Running', event: 'RELEASE', given: 'no by', to: 'reject:by_required' },
    ],
  },
  {
    id: 'URS-EM-003',
    text: 'An INTERLOCK reported by the control system (calibration_check_failed, e_stop, safety_interlock) interlocks the module from any state; the set of active causes is kept; other causes are refused.',
    transitions: [
      // From Running: URS-EM-004, which also asks for the phase to be told.
      ...ALL.filter((from) => from !== 'Running').map((from): EmTransition => ({ from, event: 'INTERLOCK', to: 'Interlocked' })),
      { from: 'Interlocked', event: 'INTERLOCK', given: 'cause active', to: 'Interlocked' },
      { from: 'Ready', event: 'INTERLOCK', given: 'unknown cause', to: 'reject:invalid_cause' },
      { from: 'Interlocked', event: 'INTERLOCK', given: 'unknown cause', to: 'reject:invalid_cause' },
    ],
  },
  {
    id: 'URS-EM-004',
    text: 'When a module acquired by a phase is interlocked, the phase is notified (notifyPhase, interlocked: true) so it can hold.',
    transitions: [
      { from: 'Running', event: 'INTERLOCK', to: 'Interlocked', emits: ['notifyPhase'] },
      { from: 'Ready', event: 'INTERLOCK', to: 'Interlocked', emits: [] },
    ],
  },
  {
    id: 'URS-EM-005',
    text: 'INTERLOCK_CLEARED from the control system clears one active cause and does not leave Interlocked.',
    transitions: [
      { from: 'Interlocked', event: 'INTERLOCK_CLEARED', given: 'cause active', to: 'Interlocked' },
      { from: 'Interlocked', event: 'INTERLOCK_CLEARED', given: 'cause not active', to: 'reject:cause_not_active' },
      { from: 'Interlocked', event: 'INTERLOCK_CLEARED', given: 'unknown cause', to: 'reject:invalid_cause' },
      { from: 'Ready', event: 'INTERLOCK_CLEARED', to: 'reject:not_interlocked' },
    ],
  },
  {
    id: 'URS-EM-006',
    text: 'Leaving Interlocked needs a supervisor\'s signed release with a reason, accepted only when no cause is active; it goes to Ready and records the signed release.',
    transitions: [
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', to: 'Ready', emits: ['recordSignedRelease'] },
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', given: 'cause active', to: 'reject:interlock_active' },
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', given: 'no reason', to: 'reject:reason_required' },
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', given: 'no signature', to: 'reject:signature_required' },
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', given: 'other signer', to: 'reject:signature_mismatch' },
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', given: 'no by', to: 'reject:by_required' },
      { from: 'Ready', event: 'RELEASE_INTERLOCK', to: 'reject:not_interlocked' },
      { from: 'Running', event: 'RELEASE_INTERLOCK', to: 'reject:not_interlocked' },
    ],
  },
  {
    id: 'URS-EM-007',
    text: 'When the interlock of a module acquired by a phase is released, the phase is notified (notifyPhase, interlocked: false); a held phase may release the module while it is interlocked.',
    transitions: [
      { from: 'Interlocked', event: 'RELEASE_INTERLOCK', given: 'acquired', to: 'Ready', emits: ['recordSignedRelease', 'notifyPhase'] },
      { from: 'Interlocked', event: 'RELEASE', given: 'acquired', to: 'Interlocked', emits: [] },
      { from: 'Interlocked', event: 'RELEASE', to: 'reject:not_acquired' },
      { from: 'Interlocked', event: 'RELEASE', given: 'no by', to: 'reject:by_required' },
    ],
  },
  {
    id: 'URS-EM-008',
    text: 'A module is taken out of service only from Ready, with a reason, and returned to service with a reason; both name the user who asks.',
    transitions: [
      { from: 'Ready', event: 'TAKE_OUT_OF_SERVICE', to: 'OutOfService' },
      { from: 'Ready', event: 'TAKE_OUT_OF_SERVICE', given: 'no reason', to: 'reject:reason_required' },
      { from: 'Ready', event: 'TAKE_OUT_OF_SERVICE', given: 'no by', to: 'reject:by_required' },
      { from: 'Running', event: 'TAKE_OUT_OF_SERVICE', to: 'reject:not_ready' },
      { from: 'Interlocked', event: 'TAKE_OUT_OF_SERVICE', to: 'reject:not_ready' },
      { from: 'OutOfService', event: 'TAKE_OUT_OF_SERVICE', to: 'reject:already_out_of_service' },
      { from: 'OutOfService', event: 'RETURN_TO_SERVICE', to: 'Ready' },
      { from: 'OutOfService', event: 'RETURN_TO_SERVICE', given: 'no reason', to: 'reject:reason_required' },
      { from: 'OutOfService', event: 'RETURN_TO_SERVICE', given: 'no by', to: 'reject:by_required' },
      { from: 'Ready', event: 'RETURN_TO_SERVICE', to: 'reject:not_out_of_service' },
    ],
  },
  {
    id: 'URS-EM-009',
    text: 'When the calibration deadline (calibratedAt + calibrationIntervalMs) falls due, the module is interlocked with cause calibration_due; a calibration timer before the deadline is refused.',
    transitions: [
      ...ALL.map((from): EmTransition => ({ from, event: 'TIMER', to: 'Interlocked' })),
      { from: 'Running', event: 'TIMER', to: 'Interlocked', emits: ['notifyPhase'] },
      { from: 'Ready', event: 'TIMER', given: 'not due', to: 'reject:timer_not_due' },
      { from: 'Interlocked', event: 'TIMER', given: 'not due', to: 'reject:timer_not_due' },
    ],
  },
  {
    id: 'URS-EM-010',
    text: 'CALIBRATED, naming who calibrated, sets a new calibration deadline in Ready, Interlocked and OutOfService, and clears calibration_due (which the control system cannot clear); it is refused while a phase holds the module.',
    transitions: [
      { from: 'Ready', event: 'CALIBRATED', to: 'Ready' },
      { from: 'Interlocked', event: 'CALIBRATED', to: 'Interlocked' },
      { from: 'OutOfService', event: 'CALIBRATED', to: 'OutOfService' },
      { from: 'Running', event: 'CALIBRATED', to: 'reject:in_use' },
      ...ALL.filter((from) => from !== 'Running').map((from): EmTransition => ({ from, event: 'CALIBRATED', given: 'no by', to: 'reject:by_required' })),
      { from: 'Interlocked', event: 'INTERLOCK_CLEARED', given: 'calibration_due cause', to: 'reject:invalid_cause' },
    ],
  },
  {
    id: 'URS-EM-011',
    text: 'An interlocked or out-of-service module cannot be acquired.',
    transitions: [
      { from: 'Interlocked', event: 'ACQUIRE', to: 'reject:interlocked' },
      { from: 'OutOfService', event: 'ACQUIRE', to: 'reject:out_of_service' },
    ],
  },
  {
    id: 'URS-EM-012',
    text: 'Unknown events and unknown timers are refused with a reason and never throw.',
    transitions: [
      ...ALL.map((from): EmTransition => ({ from, event: 'UNKNOWN', to: 'reject:unknown_event' })),
      { from: 'Ready', event: 'TIMER', given: 'unknown timer', to: 'reject:unknown_timer' },
      { from: 'Interlocked', event: 'TIMER', given: 'unknown timer', to: 'reject:unknown_timer' },
    ],
  },
];
