import { HOST_REJECTIONS, type HostRejection } from '../actors/envelope.ts';
import { PHASE_KIND_REJECTIONS } from '../actors/phase.actor.ts';
import { ALARM_REJECTIONS, type AlarmRejection } from '../machines/alarm.machine.ts';
import { BATCH_REJECTIONS, type BatchRejection } from '../machines/batch.machine.ts';
import { CONTEXT_HANDSHAKE_REJECTIONS, type ContextHandshakeRejection } from '../machines/context-handshake.support.ts';
import { EDGE_LINK_REJECTIONS, type EdgeLinkRejection } from '../machines/edge-link.support.ts';
import { EQUIPMENT_MODULE_REJECTIONS, type EquipmentModuleRejection } from '../machines/equipment-module.machine.ts';
import { EXCEPTION_REJECTIONS, type ExceptionRejection } from '../machines/exception.machine.ts';
import { PHASE_REJECTIONS, type PhaseRejection } from '../machines/phase.machine.ts';
import { UNIT_REJECTIONS, type UnitRejection } from '../machines/unit.support.ts';
import { PhaselineError, type ErrorCode } from './errors.ts';

/**
 * How a rejection is answered: a client error with its registry entry (a documented 4xx), or `internal` — an input
 * the shell itself built wrong (no user, a timer not due, an unknown event): answered 500 and logged with the
 * machine's code, never part of the contract.
 */
export type RejectionClass = ErrorCode | 'internal';

/** Every code each actor type can answer with: its machine's, its kind's, and the host's own. */
export interface RejectionCodes {
  phase: PhaseRejection | (typeof PHASE_KIND_REJECTIONS)[number] | HostRejection;
  unit: UnitRejection | HostRejection;
  alarm: AlarmRejection | HostRejection;
  exception: ExceptionRejection | HostRejection;
  batch: BatchRejection | HostRejection;
  equipmentModule: EquipmentModuleRejection | HostRejection;
  contextHandshake: ContextHandshakeRejection | HostRejection;
  edgeLink: EdgeLinkRejection | HostRejection;
}
export type ActorType = keyof RejectionCodes;

/** The lists behind {@link RejectionCodes}, for the test that walks every pair. */
export const REJECTION_CODES: { [T in ActorType]: readonly RejectionCodes[T][] } = {
  phase: [...PHASE_REJECTIONS, ...PHASE_KIND_REJECTIONS, ...HOST_REJECTIONS],
  unit: [...UNIT_REJECTIONS, ...HOST_REJECTIONS],
  alarm: [...ALARM_REJECTIONS, ...HOST_REJECTIONS],
  exception: [...EXCEPTION_REJECTIONS, ...HOST_REJECTIONS],
  batch: [...BATCH_REJECTIONS, ...HOST_REJECTIONS],
  equipmentModule: [...EQUIPMENT_MODULE_REJECTIONS, ...HOST_REJECTIONS],
  contextHandshake: [...CONTEXT_HANDSHAKE_REJECTIONS, ...HOST_REJECTIONS],
  edgeLink: [...EDGE_LINK_REJECTIONS, ...HOST_REJECTIONS],
};

const host: Record<HostRejection, RejectionClass> = {
  already_exists: 'ERR_ACTOR_ALREADY_EXISTS', actor_quarantined: 'ERR_ACTOR_QUARANTINED',
  not_found: 'ERR_HTTP_NOT_FOUND', invalid_request: 'ERR_HTTP_INVALID_REQUEST',
};
const timers = { timer_not_due: 'internal', timer_stale: 'internal', unknown_timer: 'internal', unknown_event: 'internal' } as const;

/**
 * The registry of every (actor type, rejection code) pair (one error vocabulary): a code a machine adds without a
 * classification here is a compile error, never a silent generic answer.
 */
export const REJECTIONS: { [T in ActorType]: Record<RejectionCodes[T], RejectionClass> } = {
  phase: {
    ...host, unknown_event: 'internal', invalid_state: 'internal',
    command_not_allowed: 'ERR_PHASE_COMMAND_NOT_ALLOWED', permissive_failed: 'ERR_PHASE_PERMISSIVE_FAILED',
    not_transient: 'ERR_PHASE_NOT_TRANSIENT', state_changed: 'ERR_PHASE_STATE_CHANGED', automatic_phase: 'ERR_PHASE_AUTOMATIC',
    manual_phase: 'ERR_PHASE_MANUAL', plc_not_configured: 'ERR_PHASE_NOT_ALLOWLISTED', command_not_allowlisted: 'ERR_PHASE_NOT_ALLOWLISTED',
    invalid_mode: 'ERR_PHASE_INVALID_MODE',
  },
  unit: {
    ...host, ...timers, invalid_sequence: 'ERR_CONTEXT_INVALID_SEQUENCE',
    already_sterile: 'ERR_UNIT_ALREADY_STERILE', batch_mismatch: 'ERR_UNIT_BATCH_MISMATCH', cleaning_in_progress: 'ERR_UNIT_CLEANING_IN_PROGRESS',
    deviation_required: 'ERR_UNIT_DEVIATION_REQUIRED', line_clearance_batch_mismatch: 'ERR_UNIT_LINE_CLEARANCE_MISMATCH',
    line_clearance_required: 'ERR_UNIT_LINE_CLEARANCE_REQUIRED', not_allocated: 'ERR_UNIT_NOT_ALLOCATED', not_clean: 'ERR_UNIT_NOT_CLEAN',
    not_cleaning: 'ERR_UNIT_NOT_CLEANING', not_dirty: 'ERR_UNIT_NOT_DIRTY', not_in_maintenance: 'ERR_UNIT_NOT_IN_MAINTENANCE',
    not_sterile: 'ERR_UNIT_NOT_STERILE', not_sterilising: 'ERR_UNIT_NOT_STERILISING', reason_required: 'ERR_REASON_REQUIRED',
    stale_sequence: 'ERR_CONTEXT_STALE_SEQUENCE', unit_in_use: 'ERR_UNIT_IN_USE', unit_out_of_service: 'ERR_UNIT_OUT_OF_SERVICE',
  },
  alarm: {
    ...host, ...timers, by_required: 'internal', invalid_report: 'internal',
    already_acknowledged: 'ERR_ALARM_ALREADY_ACKNOWLEDGED', already_out_of_service: 'ERR_ALARM_ALREADY_OUT_OF_SERVICE',
    already_shelved: 'ERR_ALARM_ALREADY_SHELVED', invalid_shelve_expiry: 'ERR_ALARM_INVALID_SHELVE_EXPIRY',
    not_out_of_service: 'ERR_ALARM_NOT_OUT_OF_SERVICE', not_shelved: 'ERR_ALARM_NOT_SHELVED', out_of_service: 'ERR_ALARM_OUT_OF_SERVICE',
    reason_required: 'ERR_REASON_REQUIRED', shelved: 'ERR_ALARM_SHELVED', suppressed_by_design: 'ERR_ALARM_SUPPRESSED',
  },
  exception: {
    ...host, unknown_event: 'internal',
    addendum_text_required: 'ERR_EXC_ADDENDUM_TEXT_REQUIRED', already_acknowledged: 'ERR_ALARM_ALREADY_ACKNOWLEDGED',
    already_closed: 'ERR_EXC_ALREADY_CLOSED', already_signed: 'ERR_EXC_ALREADY_SIGNED', attribution_required: 'ERR_EXC_ATTRIBUTION_REQUIRED',
    cause_and_action_required: 'ERR_EXC_CAUSE_AND_ACTION_REQUIRED', forbidden_close: 'ERR_EXC_FORBIDDEN_CLOSE',
    invalid_signature: 'ERR_EXC_INVALID_SIGNATURE', not_acknowledged: 'ERR_EXC_NOT_ACKNOWLEDGED', not_investigated: 'ERR_EXC_NOT_INVESTIGATED',
    not_signed: 'ERR_EXC_NOT_SIGNED', second_signer_not_permitted: 'ERR_EXC_SECOND_SIGNER_NOT_PERMITTED',
    second_signer_required: 'ERR_EXC_SECOND_SIGNER_REQUIRED', signature_required: 'ERR_EXC_SIGNATURE_REQUIRED',
    signed_content_locked: 'ERR_EXC_SIGNED_CONTENT_LOCKED',
  },
  batch: {
    ...host, unknown_event: 'internal',
    exceptions_open: 'ERR_BATCH_OPEN_ITEMS', invalid_signature: 'ERR_EXC_INVALID_SIGNATURE', not_allowed: 'ERR_BATCH_COMMAND_NOT_ALLOWED',
    reason_required: 'ERR_REASON_REQUIRED', same_person: 'ERR_BATCH_SAME_PERSON',
  },
  equipmentModule: {
    ...host, timer_not_due: 'internal', unknown_timer: 'internal', unknown_event: 'internal', by_required: 'internal',
    already_out_of_service: 'ERR_ALARM_ALREADY_OUT_OF_SERVICE', cause_not_active: 'ERR_EM_CAUSE_NOT_ACTIVE', in_use: 'ERR_EM_IN_USE',
    interlock_active: 'ERR_EM_INTERLOCK_ACTIVE', interlocked: 'ERR_EM_INTERLOCKED', invalid_cause: 'ERR_EM_INVALID_CAUSE',
    not_acquired: 'ERR_EM_NOT_ACQUIRED', not_interlocked: 'ERR_EM_NOT_INTERLOCKED', not_out_of_service: 'ERR_ALARM_NOT_OUT_OF_SERVICE',
    not_ready: 'ERR_EM_NOT_READY', out_of_service: 'ERR_ALARM_OUT_OF_SERVICE', phase_required: 'ERR_EM_PHASE_REQUIRED',
    reason_required: 'ERR_REASON_REQUIRED', signature_mismatch: 'ERR_SIGNATURE_MISMATCH', signature_required: 'ERR_EXC_SIGNATURE_REQUIRED',
  },
  contextHandshake: {
    ...host, ...timers, unknown_source: 'internal',
    batch_mismatch: 'ERR_UNIT_BATCH_MISMATCH', batch_not_released: 'ERR_CONTEXT_BATCH_NOT_RELEASED', context_mismatch: 'ERR_CONTEXT_MISMATCH',
    invalid_context: 'ERR_CONTEXT_INVALID', invalid_sequence: 'ERR_CONTEXT_INVALID_SEQUENCE', no_context: 'ERR_CONTEXT_NONE',
    stale_sequence: 'ERR_CONTEXT_STALE_SEQUENCE',
  },
  // Every input of an edge link is built by the shell from heartbeats and ingest: a refusal is always a shell bug.
  edgeLink: {
    ...host, ...timers, epoch_mismatch: 'internal', gap_not_pending: 'internal', invalid_epoch: 'internal', invalid_heartbeat: 'internal',
    invalid_range: 'internal', same_epoch: 'internal', unknown_epoch: 'internal',
  },
};

/** A rejection as an actor answers it. */
export interface Rejection {
  code: string;
  message: string;
  [detail: string]: unknown;
}

/** The class of a rejection; a code outside the registry (only possible past the type system) is internal. */
export function classify(type: string, code: string): RejectionClass {
  const table = (REJECTIONS as Record<string, Record<string, RejectionClass>>)[type];
  return table?.[code] ?? 'internal';
}

/**
 * The error an actor's rejection is answered with: its registry entry and details, or 500 `internal_error` keeping
 * the machine's code for the log (`machineCode`) when the shell built the input wrong.
 */
export function rejectionError(type: string, rejection: Rejection): PhaselineError {
  const { code, message, ...details } = rejection;
  const cls = classify(type, code);
  if (cls === 'internal') {
    return new PhaselineError('ERR_MACHINE_INTERNAL', `the ${type} actor refused an input the runtime built wrong: ${message}`, { machine: type, machineCode: code });
  }
  return new PhaselineError(cls, message, details);
}
