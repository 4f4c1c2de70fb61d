import { assign, enqueueActions, setup } from 'xstate';

/** Version of the equipment module machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const EQUIPMENT_MODULE_MACHINE_VERSION = 1;

/** Name of the calibration-due deadline in `timers` (DESIGN.md principle 7). */
export const CALIBRATION_DUE_TIMER = 'calibrationDue';

/** The states of an equipment module (ISA-88.01 §4.2 physical model, equipment module). */
export const EQUIPMENT_MODULE_STATES = ['Ready', 'Running', 'Interlocked', 'OutOfService'] as const;
export type EquipmentModuleState = (typeof EQUIPMENT_MODULE_STATES)[number];

/** Interlock causes the control system reports with `INTERLOCK` / `INTERLOCK_CLEARED`. */
export const REPORTED_INTERLOCK_CAUSES = ['calibration_check_failed', 'e_stop', 'safety_interlock'] as const;
export type ReportedInterlockCause = (typeof REPORTED_INTERLOCK_CAUSES)[number];

/** Every interlock cause; `calibration_due` is raised by the calibration deadline and cleared by `CALIBRATED`. */
export type InterlockCause = ReportedInterlockCause | 'calibration_due';

/** Equipment module actor input; `calibratedAt` starts the first calibration interval (a machine has no clock). */
export interface EquipmentModuleInput { id: string; unit: string; calibrationIntervalMs: number; calibratedAt: number }

/** An electronic signature manifest (21 CFR 11.50(a): printed name, date and time, meaning). */
export interface ElectronicSignature { username: string; meaning: string; signedAt: number }

/** Every input the equipment module machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type EquipmentModuleEvent =
  | { type: 'ACQUIRE'; at: number; by: string; phase: string }
  | { type: 'RELEASE'; at: number; by: string }
  | { type: 'INTERLOCK'; at: number; cause: ReportedInterlockCause; detail?: string }
  | { type: 'INTERLOCK_CLEARED'; at: number; cause: ReportedInterlockCause }
  | { type: 'RELEASE_INTERLOCK'; at: number; by: string; signature: ElectronicSignature; reason: string }
  | { type: 'TAKE_OUT_OF_SERVICE'; at: number; by: string; reason: string }
  | { type: 'RETURN_TO_SERVICE'; at: number; by: string; reason: string }
  | { type: 'CALIBRATED'; at: number; by: string }
  | { type: 'TIMER'; at: number; name: string; by?: string };

/** The phase that holds the module (ISA-88.01 §5.6 allocation). */
export interface Acquisition { phase: string; by: string; at: number }

/** Who did something when, and why (ALCOA: attributable, contemporaneous). */
export interface EquipmentModuleStamp { at: number; by: string; reason: string }

/** Equipment module context; `timers` holds absolute deadlines the host schedules (DESIGN.md principle 7). */
export interface EquipmentModuleContext {
  id: string;
  unit: string;
  calibrationIntervalMs: number;
  calibratedAt: number;
  calibratedBy?: string;
  calibrationDueAt: number;
  acquiredBy?: Acquisition;
  /** Active interlock causes in order of arrival. */
  causes: InterlockCause[];
  causeDetails: Partial<Record<InterlockCause, { at: number; detail?: string }>>;
  interlockedSince?: number;
  outOfService?: EquipmentModuleStamp;
  lastRelease?: RecordSignedReleaseParams;
  timers: Record<string, number>;
}

/** Params of `notifyPhase`: the acquiring phase should hold (interlocked) or may restart (released). */
export interface NotifyPhaseParams { phase: string; interlocked: boolean; causes: InterlockCause[] }

/** Params of `recordSignedRelease`: the signed interlock release for the record (21 CFR 11.50, 11.70). */
export interface RecordSignedReleaseParams {
  equipmentModule: string; at: number; by: string; reason: string; signature: ElectronicSignature; interlockedSince?: number;
}

/** Every code the equipmentModule machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const EQUIPMENT_MODULE_REJECTIONS = [
  'already_out_of_service',
  'by_required',
  'cause_not_active',
  'in_use',
  'interlock_active',
  'interlocked',
  'invalid_cause',
  'not_acquired',
  'not_interlocked',
  'not_out_of_service',
  'not_ready',
  'out_of_service',
  'phase_required',
  'reason_required',
  'signature_mismatch',
  'signature_required',
  'timer_not_due',
  'unknown_event',
  'unknown_timer',
] as const;
export type EquipmentModuleRejection = (typeof EQUIPMENT_MODULE_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface EquipmentModuleRejectParams { code: EquipmentModuleRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams; `requirement` names the URS item it implements. */
export interface EquipmentModuleMeta { isa88?: string; description: string; requirement?: string | string[] }

type Args = { context: EquipmentModuleContext; event: EquipmentModuleEvent };
type Fields = { by?: unknown; reason?: unknown; phase?: unknown; cause?: unknown; detail?: unknown; signature?: unknown; name?: unknown };

const fields = (event: EquipmentModuleEvent): Fields => event as Fields;
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const isReportedCause = (v: unknown): v is ReportedInterlockCause =>
  (REPORTED_INTERLOCK_CAUSES as readonly unknown[]).includes(v);
const signatureOf = (event: EquipmentModuleEvent): ElectronicSignature | undefined => {
  const s = fields(event).signature as Partial<ElectronicSignature> | undefined;
  if (typeof s !== 'object' || s === null) return undefined;
  return text(s.username) && text(s.meaning) && typeof s.signedAt === 'number' && Number.isFinite(s.signedAt)
    ? { username: s.username!, meaning: s.meaning!, signedAt: s.signedAt }
    : undefined;
};
const withCause = (context: EquipmentModuleContext, cause: InterlockCause, at: number, detail?: string) => ({
  causes: context.causes.includes(cause) ? context.causes : [...context.causes, cause],
  causeDetails: { ...context.causeDetails, [cause]: { at, ...(detail !== undefined ? { detail } : {}) } },
  interlockedSince: context.interlockedSince ?? at,
});
const withoutCause = (context: EquipmentModuleContext, cause: InterlockCause) => ({
  causes: context.causes.filter((c) => c !== cause),
  causeDetails: Object.fromEntries(Object.entries(context.causeDetails).filter(([c]) => c !== cause)),
});
const withoutTimer = (timers: Record<string, number>, name: string): Record<string, number> =>
  Object.fromEntries(Object.entries(timers).filter(([n]) => n !== name));

const notifyParams = (context: EquipmentModuleContext, interlocked: boolean): NotifyPhaseParams =>
  ({ phase: context.acquiredBy?.phase ?? '', interlocked, causes: [...context.causes] });

type GuardName =
  | 'missingBy' | 'missingPhase' | 'missingReason' | 'missingSignature' | 'signatureMismatch'
  | 'invalidCause' | 'causeNotActive' | 'isCalibrationTimer';

const emSetup = setup({
  types: {} as { context: EquipmentModuleContext; events: EquipmentModuleEvent; input: EquipmentModuleInput; meta: EquipmentModuleMeta },
  guards: {
    missingBy: ({ event }) => text(fields(event).by) === undefined,
    missingPhase: ({ event }) => text(fields(event).phase) === undefined,
    missingReason: ({ event }) => text(fields(event).reason) === undefined,
    missingSignature: ({ event }) => signatureOf(event) === undefined,
    signatureMismatch: ({ event }) => signatureOf(event)?.username !== fields(event).by,
    invalidCause: ({ event }) => !isReportedCause(fields(event).cause),
    causeNotActive: ({ context, event }) => !context.causes.includes(fields(event).cause as InterlockCause),
    causesActive: ({ context }) => context.causes.length > 0,
    isAcquired: ({ context }) => context.acquiredBy !== undefined,
    isCalibrationTimer: ({ event }) => event.type === 'TIMER' && event.name === CALIBRATION_DUE_TIMER,
    calibrationDue: ({ context, event }) => event.type === 'TIMER' && event.name === CALIBRATION_DUE_TIMER &&
      context.timers[CALIBRATION_DUE_TIMER] !== undefined && event.at >= context.timers[CALIBRATION_DUE_TIMER]!,
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: EquipmentModuleRejectParams) => {},
    notifyPhase: (_: unknown, _params: NotifyPhaseParams) => {},
    recordSignedRelease: (_: unknown, _params: RecordSignedReleaseParams) => {},
    // Context updates.
    storeAcquisition: assign({
      acquiredBy: ({ event }) => ({ phase: String(fields(event).phase), by: String(fields(event).by), at: event.at }),
    }),
    clearAcquisition: assign({ acquiredBy: undefined }),
    addReportedCause: assign(({ context, event }) =>
      withCause(context, fields(event).cause as InterlockCause, event.at, text(fields(event).detail))),
    addCalibrationDue: assign(({ context, event }) => ({
      ...withCause(context, 'calibration_due', event.at), timers: withoutTimer(context.timers, CALIBRATION_DUE_TIMER),
    })),
    clearReportedCause: assign(({ context, event }) => withoutCause(context, fields(event).cause as InterlockCause)),
    storeCalibration: assign(({ context, event }) => {
      const due = event.at + context.calibrationIntervalMs;
      return {
        ...withoutCause(context, 'calibration_due'),
        calibratedAt: event.at, calibratedBy: String(fields(event).by), calibrationDueAt: due,
        timers: { ...context.timers, [CALIBRATION_DUE_TIMER]: due },
      };
    }),
    storeSignedRelease: assign(({ context, event }) => ({
      lastRelease: releaseParams({ context, event }), interlockedSince: undefined,
      causeDetails: {}, outOfService: undefined, acquiredBy: undefined,
    })),
    storeOutOfService: assign({
      outOfService: ({ event }) => ({ at: event.at, by: String(fields(event).by), reason: String(fields(event).reason) }),
    }),
    clearOutOfService: assign({ outOfService: undefined }),
    // The acquiring phase must hold on an interlock and may restart after the signed release; params functions
    // cannot skip an action, enqueueActions can.
    notifyInterlocked: enqueueActions(({ context, enqueue }) => {
      if (context.acquiredBy) enqueue({ type: 'notifyPhase', params: notifyParams(context, true) });
    }),
    notifyReleased: enqueueActions(({ context, enqueue }) => {
      if (context.acquiredBy) enqueue({ type: 'notifyPhase', params: notifyParams(context, false) });
    }),
  },
});

function releaseParams({ context, event }: Args): RecordSignedReleaseParams {
  return {
    equipmentModule: context.id, at: event.at, by: String(fields(event).by), reason: String(fields(event).reason),
    signature: signatureOf(event)!,
    ...(context.interlockedSince !== undefined ? { interlockedSince: context.interlockedSince } : {}),
  };
}

const reject = (code: EquipmentModuleRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): EquipmentModuleRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

const meta = (requirement: string | string[], description: string, isa88?: string): EquipmentModuleMeta =>
  ({ ...(isa88 ? { isa88 } : {}), description, requirement });

const refuse = (guard: GuardName, code: EquipmentModuleRejection, message: (args: Args) => string, requirement: string | string[], description: string) =>
  ({ guard, actions: reject(code, message), meta: meta(requirement, description) }) as const;

const byRequired = (requirement: string) =>
  refuse('missingBy', 'by_required', () => 'a request must name the user who makes it', requirement, 'Refused: no user named');
const reasonRequired = (requirement: string) =>
  refuse('missingReason', 'reason_required', () => 'a reason is required', requirement, 'Refused: no reason');
const invalidCause = refuse('invalidCause', 'invalid_cause',
  ({ event }) => `interlock cause ${JSON.stringify(fields(event).cause)} is not one of ${REPORTED_INTERLOCK_CAUSES.join(', ')}`,
  'URS-EM-003', 'Interlock refused: unknown cause');
const notify = (interlocked: boolean) => (interlocked ? 'notifyInterlocked' as const : 'notifyReleased' as const);

/** INTERLOCK and the due calibration TIMER from any state but Interlocked (URS-EM-003, URS-EM-009). */
const enterInterlocked = {
  INTERLOCK: [
    invalidCause,
    {
      target: '.Interlocked', actions: ['addReportedCause', notify(true)],
      meta: meta(['URS-EM-003', 'URS-EM-004'], 'Control system reports an interlock: module interlocked, acquiring phase told to hold'),
    },
  ],
  TIMER: [
    {
      guard: 'calibrationDue', target: '.Interlocked', actions: ['addCalibrationDue', notify(true)],
      meta: meta('URS-EM-009', 'Calibration due: module interlocked with cause calibration_due'),
    },
    refuse('isCalibrationTimer', 'timer_not_due',
      ({ context }) => `calibration of ${context.id} is due at ${context.timers[CALIBRATION_DUE_TIMER] ?? 'no deadline'}`,
      'URS-EM-009', 'Timer refused: calibration not yet due'),
    {
      actions: reject('unknown_timer', ({ event }) => `unknown timer ${JSON.stringify(fields(event).name)}`),
      meta: meta('URS-EM-012', 'Timer refused: unknown timer'),
    },
  ],
} as const;

const calibrate = [
  byRequired('URS-EM-010'),
  { actions: 'storeCalibration' as const, meta: meta('URS-EM-010', 'Calibrated: new calibration deadline set') },
];

/** An ISA-88 equipment module (scale, agitator, valve group): acquisition, interlocks, signed release, service, calibration. */
export const equipmentModuleMachine = emSetup.createMachine({
  id: 'equipmentModule',
  initial: 'Ready',
  context: ({ input }) => {
    const due = input.calibratedAt + input.calibrationIntervalMs;
    return {
      id: input.id, unit: input.unit, calibrationIntervalMs: input.calibrationIntervalMs,
      calibratedAt: input.calibratedAt, calibrationDueAt: due, causes: [], causeDetails: {},
      timers: { [CALIBRATION_DUE_TIMER]: due },
    };
  },
  meta: { isa88: '4.2', description: 'ISA-88 equipment module: acquisition by a phase, interlocks, service, calibration' },
  on: {
    ...enterInterlocked,
    RELEASE: { actions: reject('not_acquired', ({ context }) => `equipment module ${context.id} is not acquired`), meta: meta(['URS-EM-002', 'URS-EM-007'], 'Release refused: not acquired') },
    INTERLOCK_CLEARED: { actions: reject('not_interlocked', ({ context }) => `equipment module ${context.id} is not interlocked`), meta: meta('URS-EM-005', 'Interlock cleared refused: not interlocked') },
    RELEASE_INTERLOCK: { actions: reject('not_interlocked', ({ context }) => `equipment module ${context.id} is not interlocked`), meta: meta('URS-EM-006', 'Signed release refused: not interlocked') },
    TAKE_OUT_OF_SERVICE: { actions: reject('not_ready', ({ context }) => `equipment module ${context.id} can be taken out of service only from Ready`), meta: meta('URS-EM-008', 'Out of service refused: not ready') },
    RETURN_TO_SERVICE: { actions: reject('not_out_of_service', ({ context }) => `equipment module ${context.id} is in service`), meta: meta('URS-EM-008', 'Return to service refused: in service') },
    CALIBRATED: { actions: reject('in_use', ({ context }) => `equipment module ${context.id} is acquired by ${context.acquiredBy?.phase}`), meta: meta('URS-EM-010', 'Calibration refused: in use') },
    '*': { actions: reject('unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`), meta: meta('URS-EM-012', 'Unknown event: refused') },
  },
  states: {
    Ready: {
      meta: { isa88: '4.2', description: 'Idle and available: may be acquired by a phase' },
      on: {
        ACQUIRE: [
          byRequired('URS-EM-001'),
          refuse('missingPhase', 'phase_required', () => 'ACQUIRE must name the acquiring phase', 'URS-EM-001', 'Acquire refused: no phase'),
          { target: 'Running', actions: 'storeAcquisition', meta: meta('URS-EM-001', 'A phase acquires the module', '5.6') },
        ],
        TAKE_OUT_OF_SERVICE: [
          byRequired('URS-EM-008'), reasonRequired('URS-EM-008'),
          { target: 'OutOfService', actions: 'storeOutOfService', meta: meta('URS-EM-008', 'Taken out of service for maintenance') },
        ],
        CALIBRATED: calibrate,
      },
    },
    Running: {
      meta: { isa88: '5.6', description: 'Acquired by one phase' },
      on: {
        ACQUIRE: {
          actions: reject('in_use', ({ context }) => `equipment module ${context.id} is acquired by ${context.acquiredBy?.phase}`,
            ({ context }) => ({ acquiredBy: context.acquiredBy?.phase })),
          meta: meta('URS-EM-002', 'Acquire refused: already acquired', '5.6'),
        },
        RELEASE: [
          byRequired('URS-EM-002'),
          { target: 'Ready', actions: 'clearAcquisition', meta: meta('URS-EM-002', 'The phase releases the module', '5.6') },
        ],
      },
    },
    Interlocked: {
      meta: { description: 'Interlocked by the control system or calibration; leaves only by a signed release' },
      on: {
        INTERLOCK: [
          invalidCause,
          { actions: 'addReportedCause', meta: meta('URS-EM-003', 'Further interlock cause: kept in the active set') },
        ],
        TIMER: [
          { guard: 'calibrationDue', actions: 'addCalibrationDue', meta: meta('URS-EM-009', 'Calibration due while interlocked: cause added') },
          ...enterInterlocked.TIMER.slice(1),
        ],
        INTERLOCK_CLEARED: [
          refuse('invalidCause', 'invalid_cause',
            ({ event }) => `interlock cause ${JSON.stringify(fields(event).cause)} cannot be cleared by the control system`,
            ['URS-EM-005', 'URS-EM-010'], 'Interlock cleared refused: unknown cause or calibration_due'),
          refuse('causeNotActive', 'cause_not_active', ({ event }) => `interlock cause ${String(fields(event).cause)} is not active`,
            'URS-EM-005', 'Interlock cleared refused: cause not active'),
          { actions: 'clearReportedCause', meta: meta('URS-EM-005', 'Control system clears a cause; the module stays interlocked') },
        ],
        RELEASE_INTERLOCK: [
          {
            guard: 'causesActive',
            actions: reject('interlock_active', ({ context }) => `interlock causes still active: ${context.causes.join(', ')}`,
              ({ context }) => ({ causes: [...context.causes] })),
            meta: meta('URS-EM-006', 'Signed release refused: a cause is still active'),
          },
          reasonRequired('URS-EM-006'),
          refuse('missingSignature', 'signature_required', () => 'releasing an interlock requires an electronic signature', 'URS-EM-006', 'Signed release refused: no signature'),
          byRequired('URS-EM-006'),
          refuse('signatureMismatch', 'signature_mismatch', () => 'the signature must be the releasing user\'s own', 'URS-EM-006', 'Signed release refused: signer is not the requester'),
          {
            target: 'Ready',
            actions: [{ type: 'recordSignedRelease', params: releaseParams }, notify(false), 'storeSignedRelease'],
            meta: meta(['URS-EM-006', 'URS-EM-007'], 'Supervisor signs the interlock release: module ready'),
          },
        ],
        ACQUIRE: { actions: reject('interlocked', ({ context }) => `equipment module ${context.id} is interlocked: ${context.causes.join(', ')}`), meta: meta('URS-EM-011', 'Acquire refused: interlocked') },
        RELEASE: [
          byRequired('URS-EM-007'),
          { guard: 'isAcquired', actions: 'clearAcquisition', meta: meta('URS-EM-007', 'The held phase releases the module; it stays interlocked') },
        ],
        CALIBRATED: calibrate,
      },
    },
    OutOfService: {
      meta: { description: 'Out of service for maintenance: cannot be acquired' },
      on: {
        ACQUIRE: { actions: reject('out_of_service', ({ context }) => `equipment module ${context.id} is out of service`), meta: meta('URS-EM-011', 'Acquire refused: out of service') },
        TAKE_OUT_OF_SERVICE: { actions: reject('already_out_of_service', ({ context }) => `equipment module ${context.id} is already out of service`), meta: meta('URS-EM-008', 'Out of service refused: already out of service') },
        RETURN_TO_SERVICE: [
          byRequired('URS-EM-008'), reasonRequired('URS-EM-008'),
          { target: 'Ready', actions: 'clearOutOfService', meta: meta('URS-EM-008', 'Returned to service') },
        ],
        CALIBRATED: calibrate,
      },
    },
  },
});
