import type { ActorError } from '../actors/errors.ts';
import type { ConfigError } from '../config/errors.ts';

/**
 * The one error registry: every error the product raises or answers with has a stable code here. HTTP answers carry
 * the snake_case `http` name; logs and dead letters carry `code`.
 */
export const ERRORS = {
  ERR_HTTP_INVALID_REQUEST: { http: 'invalid_request', status: 400, retryable: false },
  ERR_HTTP_NOT_FOUND: { http: 'not_found', status: 404, retryable: false },
  ERR_HTTP_PAYLOAD_TOO_LARGE: { http: 'payload_too_large', status: 413, retryable: false },
  ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: { http: 'unsupported_media_type', status: 415, retryable: false },
  ERR_AUTH_UNAUTHENTICATED: { http: 'unauthenticated', status: 401, retryable: false },
  ERR_AUTH_INVALID_CREDENTIALS: { http: 'invalid_credentials', status: 401, retryable: false },
  ERR_AUTH_FORBIDDEN: { http: 'forbidden', status: 403, retryable: false },
  ERR_PHASE_COMMAND_NOT_ALLOWED: { http: 'command_not_allowed', status: 409, retryable: false },
  ERR_PHASE_PERMISSIVE_FAILED: { http: 'permissive_failed', status: 412, retryable: false },
  ERR_PHASE_NOT_TRANSIENT: { http: 'not_transient', status: 409, retryable: false },
  ERR_PHASE_STATE_CHANGED: { http: 'state_changed', status: 409, retryable: false },
  ERR_PHASE_AUTOMATIC: { http: 'automatic_phase', status: 409, retryable: false },
  ERR_PHASE_MANUAL: { http: 'manual_phase', status: 409, retryable: false },
  ERR_PHASE_NOT_ALLOWLISTED: { http: 'command_not_allowlisted', status: 409, retryable: false },
  ERR_UNIT_IN_USE: { http: 'unit_in_use', status: 409, retryable: false },
  ERR_UNIT_NOT_ALLOCATED: { http: 'not_allocated', status: 409, retryable: false },
  ERR_UNIT_BATCH_MISMATCH: { http: 'batch_mismatch', status: 409, retryable: false },
  ERR_UNIT_OUT_OF_SERVICE: { http: 'unit_out_of_service', status: 409, retryable: false },
  ERR_UNIT_NOT_IN_MAINTENANCE: { http: 'not_in_maintenance', status: 409, retryable: false },
  ERR_UNIT_NOT_CLEAN: { http: 'not_clean', status: 409, retryable: false },
  ERR_UNIT_NOT_STERILE: { http: 'not_sterile', status: 409, retryable: false },
  ERR_UNIT_ALREADY_STERILE: { http: 'already_sterile', status: 409, retryable: false },
  ERR_UNIT_NOT_DIRTY: { http: 'not_dirty', status: 409, retryable: false },
  ERR_UNIT_CLEANING_IN_PROGRESS: { http: 'cleaning_in_progress', status: 409, retryable: false },
  ERR_UNIT_NOT_CLEANING: { http: 'not_cleaning', status: 409, retryable: false },
  ERR_UNIT_NOT_STERILISING: { http: 'not_sterilising', status: 409, retryable: false },
  ERR_UNIT_LINE_CLEARANCE_REQUIRED: { http: 'line_clearance_required', status: 409, retryable: false },
  ERR_UNIT_LINE_CLEARANCE_MISMATCH: { http: 'line_clearance_batch_mismatch', status: 409, retryable: false },
  ERR_UNIT_DEVIATION_REQUIRED: { http: 'deviation_required', status: 422, retryable: false },
  ERR_REASON_REQUIRED: { http: 'reason_required', status: 422, retryable: false },
  /** Too many requests: answered 429 with `Retry-After` (seconds) from the error's `retryAfterSeconds`. */
  ERR_RATE_LIMITED: { http: 'rate_limited', status: 429, retryable: true },
  ERR_PHASE_INVALID_MODE: { http: 'invalid_mode', status: 422, retryable: false },
  ERR_BATCH_COMMAND_NOT_ALLOWED: { http: 'command_not_allowed', status: 409, retryable: false },
  ERR_BATCH_OPEN_ITEMS: { http: 'open_items', status: 409, retryable: false },
  ERR_BATCH_SAME_PERSON: { http: 'same_person', status: 409, retryable: false },
  ERR_EM_INTERLOCK_ACTIVE: { http: 'interlock_active', status: 409, retryable: false },
  ERR_EM_NOT_INTERLOCKED: { http: 'not_interlocked', status: 409, retryable: false },
  ERR_EM_INTERLOCKED: { http: 'interlocked', status: 409, retryable: false },
  ERR_EM_IN_USE: { http: 'in_use', status: 409, retryable: false },
  ERR_EM_NOT_ACQUIRED: { http: 'not_acquired', status: 409, retryable: false },
  ERR_EM_NOT_READY: { http: 'not_ready', status: 409, retryable: false },
  ERR_EM_CAUSE_NOT_ACTIVE: { http: 'cause_not_active', status: 409, retryable: false },
  ERR_EM_INVALID_CAUSE: { http: 'invalid_cause', status: 422, retryable: false },
  ERR_EM_PHASE_REQUIRED: { http: 'phase_required', status: 422, retryable: false },
  ERR_SIGNATURE_MISMATCH: { http: 'signature_mismatch', status: 422, retryable: false },
  ERR_CONTEXT_MISMATCH: { http: 'context_mismatch', status: 409, retryable: false },
  ERR_CONTEXT_BATCH_NOT_RELEASED: { http: 'batch_not_released', status: 409, retryable: false },
  ERR_CONTEXT_NONE: { http: 'no_context', status: 409, retryable: false },
  ERR_CONTEXT_INVALID: { http: 'invalid_context', status: 422, retryable: false },
  ERR_CONTEXT_INVALID_SEQUENCE: { http: 'invalid_sequence', status: 422, retryable: false },
  /** A machine refused an input the shell itself built wrong (a timer not due, no user, an unknown event): a bug. */
  ERR_MACHINE_INTERNAL: { http: 'internal_error', status: 500, retryable: false },
  ERR_ALARM_ALREADY_ACKNOWLEDGED: { http: 'already_acknowledged', status: 409, retryable: false },
  ERR_ALARM_ALREADY_SHELVED: { http: 'already_shelved', status: 409, retryable: false },
  ERR_ALARM_NOT_SHELVED: { http: 'not_shelved', status: 409, retryable: false },
  ERR_ALARM_SHELVED: { http: 'shelved', status: 409, retryable: false },
  ERR_ALARM_OUT_OF_SERVICE: { http: 'out_of_service', status: 409, retryable: false },
  ERR_ALARM_ALREADY_OUT_OF_SERVICE: { http: 'already_out_of_service', status: 409, retryable: false },
  ERR_ALARM_NOT_OUT_OF_SERVICE: { http: 'not_out_of_service', status: 409, retryable: false },
  ERR_ALARM_SUPPRESSED: { http: 'suppressed_by_design', status: 409, retryable: false },
  ERR_ALARM_INVALID_SHELVE_EXPIRY: { http: 'invalid_shelve_expiry', status: 422, retryable: false },
  ERR_EXC_SECOND_SIGNER_REQUIRED: { http: 'second_signer_required', status: 422, retryable: false },
  ERR_EXC_SECOND_SIGNER_NOT_PERMITTED: { http: 'second_signer_not_permitted', status: 403, retryable: false },
  ERR_EXC_SIGNATURE_REQUIRED: { http: 'signature_required', status: 422, retryable: false },
  ERR_EXC_INVALID_SIGNATURE: { http: 'invalid_signature', status: 422, retryable: false },
  ERR_EXC_CAUSE_AND_ACTION_REQUIRED: { http: 'cause_and_action_required', status: 422, retryable: false },
  ERR_EXC_ATTRIBUTION_REQUIRED: { http: 'attribution_required', status: 422, retryable: false },
  ERR_EXC_ADDENDUM_TEXT_REQUIRED: { http: 'addendum_text_required', status: 422, retryable: false },
  ERR_EXC_NOT_ACKNOWLEDGED: { http: 'not_acknowledged', status: 409, retryable: false },
  ERR_EXC_NOT_INVESTIGATED: { http: 'not_investigated', status: 409, retryable: false },
  ERR_EXC_NOT_SIGNED: { http: 'not_signed', status: 409, retryable: false },
  ERR_EXC_ALREADY_SIGNED: { http: 'already_signed', status: 409, retryable: false },
  ERR_EXC_ALREADY_CLOSED: { http: 'already_closed', status: 409, retryable: false },
  ERR_EXC_SIGNED_CONTENT_LOCKED: { http: 'signed_content_locked', status: 409, retryable: false },
  ERR_EXC_FORBIDDEN_CLOSE: { http: 'forbidden_close', status: 403, retryable: false },
  ERR_ACTOR_ALREADY_EXISTS: { http: 'already_exists', status: 409, retryable: false },
  ERR_CONTEXT_STALE_SEQUENCE: { http: 'stale_sequence', status: 409, retryable: false },
  ERR_ACTOR_QUARANTINED: { http: 'actor_quarantined', status: 503, retryable: false },
  ERR_ACTOR_TIMEOUT: { http: 'timeout', status: 503, retryable: true },
  ERR_IDEMPOTENCY_IN_PROGRESS: { http: 'request_in_progress', status: 409, retryable: true },
  ERR_IDEMPOTENCY_MISMATCH: { http: 'idempotency_key_reused', status: 422, retryable: false },
  ERR_NATS_UNAVAILABLE: { http: 'nats_unavailable', status: 503, retryable: true },
  ERR_BROKER_NOT_FOUND: { http: 'internal_error', status: 500, retryable: false },
  ERR_BROKER_START: { http: 'internal_error', status: 500, retryable: true },
  ERR_INSTANCE_RUNNING: { http: 'internal_error', status: 500, retryable: false },
  ERR_CONFIG_INVALID: { http: 'internal_error', status: 500, retryable: false },
  ERR_AUDIT_CHAIN_BROKEN: { http: 'internal_error', status: 500, retryable: false },
  /** A component was asked for work after it was stopped (shutdown in progress). */
  ERR_COMPONENT_STOPPED: { http: 'internal_error', status: 503, retryable: true },
  ERR_ACTOR_MACHINE_FAILED: { http: 'internal_error', status: 500, retryable: false },
  ERR_ACTOR_LEASE_ABORTED: { http: 'internal_error', status: 503, retryable: true },
  ERR_EDGE_NOT_CONNECTED: { http: 'internal_error', status: 503, retryable: true },
  ERR_OPCUA_HISTORY_READ: { http: 'internal_error', status: 500, retryable: true },
  ERR_BROKER_FETCH: { http: 'internal_error', status: 500, retryable: true },
  ERR_BROKER_VERSION_UNREADABLE: { http: 'internal_error', status: 500, retryable: false },
  ERR_DIAGRAM_GUARD: { http: 'internal_error', status: 500, retryable: false },
  ERR_CLI_USAGE: { http: 'invalid_request', status: 400, retryable: false },
  ERR_AUDIT_POSITION_BEYOND_STREAM: { http: 'internal_error', status: 500, retryable: false },
  ERR_AUDIT_NOTHING_TO_DISPOSITION: { http: 'nothing_to_disposition', status: 409, retryable: false },
  ERR_AUDIT_NOT_A_DUPLICATE: { http: 'not_a_duplicate', status: 422, retryable: false },
  ERR_OPCUA_CONFIG: { http: 'internal_error', status: 500, retryable: false },
  ERR_OPCUA_SECURITY: { http: 'internal_error', status: 500, retryable: true },
  ERR_PKI_NOT_FOUND: { http: 'not_found', status: 404, retryable: false },
  ERR_EDGE_MQTT_CONFIG: { http: 'internal_error', status: 500, retryable: false },
  ERR_EDGE_SPARKPLUG_PAYLOAD: { http: 'invalid_request', status: 400, retryable: false },
  ERR_EDGE_BUFFER_FULL: { http: 'internal_error', status: 503, retryable: true },
  ERR_EDGE_BUFFER_IO: { http: 'internal_error', status: 500, retryable: true },
  ERR_EDGE_BUFFER_CLOSED: { http: 'internal_error', status: 503, retryable: false },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Base class: a stable code, the HTTP mapping, details for the answer body, and the cause kept. */
export class PhaselineError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PhaselineError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  get httpCode(): string {
    return ERRORS[this.code].http;
  }
  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }
}

/** Raised when a nats-server ≥ 2.11 cannot be found or fetched. */
export class BrokerNotFoundError extends PhaselineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BROKER_NOT_FOUND', message, {}, options);
  }
}

/** Raised when the embedded nats-server cannot be started or does not become ready; the message has its log tail. */
export class BrokerStartError extends PhaselineError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('ERR_BROKER_START', message, details, options);
  }
}

/** Raised when another live process holds the state directory (DESIGN.md principle 15: one instance owns it). */
export class InstanceRunningError extends PhaselineError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_INSTANCE_RUNNING', message, details);
  }
}

/** Raised when an MQTT / Sparkplug B source cannot be started from its config (no endpoint, no `sparkplug` block, no CA). */
export class MqttSourceConfigError extends PhaselineError {
  constructor(source: string, problem: string, options?: { cause?: unknown }) {
    super('ERR_EDGE_MQTT_CONFIG', `source ${source}: ${problem}`, { source, problem }, options);
  }
}

/** A Sparkplug B payload that cannot be decoded or used; it is dead-lettered with `reason`, never thrown past the host. */
export class SparkplugPayloadError extends PhaselineError {
  constructor(readonly reason: string, message: string, options?: { cause?: unknown }) {
    super('ERR_EDGE_SPARKPLUG_PAYLOAD', message, { reason }, options);
  }
}

/** config/'s own error (it imports nothing of the shell), registered here under `ERR_CONFIG_INVALID`. */
export { ConfigError } from '../config/errors.ts';
/** actors/' own errors, registered here; a code they add that the registry lacks does not compile. */
export { ActorError } from '../actors/errors.ts';
const registered: readonly ErrorCode[] = [] as (ActorError['code'] | ConfigError['code'])[];
void registered;

/** Raised when an OPC UA source's settings cannot be used (e.g. an unreadable password file). */
export class OpcuaConfigError extends PhaselineError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('ERR_OPCUA_CONFIG', message, details, options);
  }
}

/**
 * Raised when an OPC UA server offers no endpoint with the configured security policy and mode, or its certificate
 * is not trusted (IEC 62541-4 §5.4.2 GetEndpoints; §5.5.2 OpenSecureChannel). Retryable: an operator may trust it.
 */
export class OpcuaSecurityError extends PhaselineError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('ERR_OPCUA_SECURITY', message, details, options);
  }
}

/** Raised by `phaseline pki` when no certificate matches the given file or thumbprint. */
export class PkiNotFoundError extends PhaselineError {
  constructor(what: string, folder: string) {
    super('ERR_PKI_NOT_FOUND', `no certificate ${what} in ${folder}`, { what, folder });
  }
}

/** Raised by the edge's store-and-forward buffer: full under the `block` policy, a failed write or fsync, or closed. */
export class EdgeBufferError extends PhaselineError {
  constructor(
    code: 'ERR_EDGE_BUFFER_FULL' | 'ERR_EDGE_BUFFER_IO' | 'ERR_EDGE_BUFFER_CLOSED',
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }
}

