import { and, not, or, stateIn } from 'xstate';

/**
 * Types, timer names and pure context helpers of the unit machine (machines/unit.machine.ts), kept apart so the
 * definition stays readable. No I/O, no clock: every time is an input's `at` (DESIGN.md principle 7).
 */

/** Unit actor input; `createdAt` starts the first clean hold, since a machine has no clock (ISA-88.01 §4.2). */
export interface UnitInput {
  id: string;
  phases: string[];
  cleanHoldMs: number;
  createdAt: number;
  /** Dirty-hold time: longest time from soiling to the start of cleaning without a deviation (default 72 h). */
  dirtyHoldMs?: number;
  /** Sterile-hold time: how long a sterilised unit stays sterile (default 24 h). */
  sterileHoldMs?: number;
  /** The equipment requirement: a batch may be allocated only to a sterile unit (default false: clean suffices). */
  requiresSterile?: boolean;
}

/** The batch context the MES last asserted on the unit (ISA-88.01 §5.6 allocation; CONTRACT.md ctx.<unit>). */
export interface UnitContextAssertion {
  contextId: string;
  batchId: string;
  specVersion: string | number;
  seq: number;
  unitProcedure?: string;
  operation?: string;
  phase?: string;
  assertedAt: number;
  by: string;
}

/** A line clearance: who verified that nothing of a previous batch is left, when, and for which batch (EU GMP Ch. 5.35). */
export interface LineClearance {
  by: string;
  at: number;
  batchId?: string;
  /** Set on a genuine first start: a new unit never held a batch, so nothing of one can be left on the line. */
  firstStart?: true;
}

/** A CIP or SIP cycle as recorded: who started it and when, the deviation it ran under, and how it ended. */
export interface CleaningCycle {
  kind: 'CIP' | 'SIP';
  startedAt: number;
  startedBy: string;
  deviationId?: string;
  completedAt?: number;
  completedBy?: string;
  ok?: boolean;
}

/** The open maintenance work that took the unit out of service. */
export interface MaintenanceRecord { reason: string; by: string; at: number }

/** Who allocated the unit to its batch, when, and how (an ALLOCATE or the MES context assertion). */
export interface Allocation { batchId: string; by: string; at: number; via: 'allocate' | 'context' }

/** Unit machine context; `timers` holds absolute deadlines the host schedules (DESIGN.md principle 7). */
export interface UnitContext {
  id: string;
  phases: string[];
  cleanHoldMs: number;
  dirtyHoldMs: number;
  sterileHoldMs: number;
  requiresSterile: boolean;
  context?: UnitContextAssertion;
  lastSeq: number;
  allocatedTo?: string;
  allocation?: Allocation;
  cleanUntil?: number;
  sterileUntil?: number;
  dirtyUntil?: number;
  /** Set when the dirty-hold time ran out before cleaning started: cleaning then needs a deviation. */
  dirtyHoldExpired: boolean;
  lineClearance?: LineClearance;
  /** The CIP or SIP cycle running now, or the last one. */
  cycle?: CleaningCycle;
  maintenance?: MaintenanceRecord;
  timers: Record<string, number>;
}

type Stamp = { at: number; by: string };

/** Every input the unit machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type UnitEvent =
  | (Stamp & {
    type: 'ASSERT_CONTEXT'; contextId: string; batchId: string;
    specVersion: string | number; seq: number; unitProcedure?: string; operation?: string; phase?: string;
  })
  | (Stamp & { type: 'ALLOCATE'; batchId: string })
  | (Stamp & { type: 'RELEASE'; batchId: string; reason?: string })
  | (Stamp & { type: 'LINE_CLEARANCE'; batchId?: string })
  | (Stamp & { type: 'CIP_START'; deviationId?: string })
  | (Stamp & { type: 'CIP_COMPLETE'; ok: boolean; reason?: string })
  | (Stamp & { type: 'SIP_START' })
  | (Stamp & { type: 'SIP_COMPLETE'; ok: boolean; reason?: string })
  | (Stamp & { type: 'MAINTENANCE_START'; reason: string })
  | (Stamp & { type: 'MAINTENANCE_END'; reason?: string })
  | { type: 'MARK_DIRTY'; at: number; by?: string; reason?: string }
  | { type: 'TIMER'; at: number; name: string; by?: string };

/** The unit status every phase of the unit receives as its `UNIT_STATUS` permissives input (sterile counts as clean). */
export interface UnitStatus { contextId?: string; batchId?: string; clean: boolean; allocated: boolean }

/** Every code the unit machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const UNIT_REJECTIONS = [
  'already_sterile',
  'batch_mismatch',
  'cleaning_in_progress',
  'deviation_required',
  'invalid_sequence',
  'line_clearance_batch_mismatch',
  'line_clearance_required',
  'not_allocated',
  'not_clean',
  'not_cleaning',
  'not_dirty',
  'not_in_maintenance',
  'not_sterile',
  'not_sterilising',
  'reason_required',
  'stale_sequence',
  'timer_not_due',
  'timer_stale',
  'unit_in_use',
  'unit_out_of_service',
  'unknown_event',
  'unknown_timer',
] as const;
export type UnitRejection = (typeof UNIT_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable (src/errors.ts), the rest depends on it. */
export interface UnitRejectParams { code: UnitRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams and checked against test/model/requirements/unit.ts. */
export interface UnitMeta { isa88?: string; description: string; requirement: string }

/** Name of the clean-hold deadline in `timers`. */
export const CLEAN_HOLD_TIMER = 'cleanHold';
/** Name of the sterile-hold (sterility expiry) deadline in `timers`. */
export const STERILE_HOLD_TIMER = 'sterileHold';
/** Name of the dirty-hold deadline in `timers`. */
export const DIRTY_HOLD_TIMER = 'dirtyHold';
/** Every timer the unit machine arms. */
export const UNIT_TIMERS = [CLEAN_HOLD_TIMER, STERILE_HOLD_TIMER, DIRTY_HOLD_TIMER] as const;

export const DEFAULT_DIRTY_HOLD_MS = 72 * 3_600_000;
export const DEFAULT_STERILE_HOLD_MS = 24 * 3_600_000;


/** A `reject` action with a stable code (DESIGN.md principle 6). */
export const reject = (code: UnitRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): UnitRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

/** The timers without the named ones. */
export const without = (timers: Record<string, number>, ...names: string[]): Record<string, number> =>
  Object.fromEntries(Object.entries(timers).filter(([name]) => !names.includes(name)));

/**
 * The context changes of a unit becoming dirty from clean, sterile, a failed SIP or maintenance: the clean and
 * sterile holds end, the line clearance no longer holds, and a fresh dirty hold starts.
 */
export function soiled(context: UnitContext, at: number): Partial<UnitContext> {
  const dirtyUntil = at + context.dirtyHoldMs;
  return {
    cleanUntil: undefined, sterileUntil: undefined, lineClearance: undefined, dirtyUntil, dirtyHoldExpired: false,
    timers: { ...without(context.timers, CLEAN_HOLD_TIMER, STERILE_HOLD_TIMER), [DIRTY_HOLD_TIMER]: dirtyUntil },
  };
}

/** The params of `notifyPhases`: the status after the transition, with `clean` given by the caller. */
export const notifyParams = (context: UnitContext, at: number, clean: boolean) => ({
  phases: context.phases,
  status: {
    ...(context.context ? { contextId: context.context.contextId, batchId: context.context.batchId } : {}),
    clean,
    allocated: context.allocatedTo !== undefined,
  } satisfies UnitStatus,
  at,
});

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/** The string field of an event, if it has a non-blank one. */
export const field = (event: UnitEvent, name: string): string | undefined => text((event as Record<string, unknown>)[name]);

/** The batch an allocation input names (ALLOCATE or ASSERT_CONTEXT). */
export const batchOf = (event: UnitEvent): string | undefined => field(event, 'batchId');

// Building blocks of the unit machine definition: state checks, effect actions with their params, refusals. Internal
// to machines/unit.machine.ts (not re-exported).

/** The arguments an action params function or guard receives. */
export type Args = { context: UnitContext; event: UnitEvent };
/** Params of the timer guards: the deadline's name in `timers`. */
export type Timer = { name: string };

// stateIn() is typed for any guard set, check() inside setup() for none: hence the casts.
/** A guard on the active state of one region (the other region's state is not in context). */
export const inState = (value: Record<string, string>) => stateIn(value) as never;
export const inAllocated = inState({ availability: 'Allocated' });
export const inOutOfService = inState({ availability: 'OutOfService' });
export const inDirty = inState({ hygiene: 'Dirty' });
export const inSterile = inState({ hygiene: 'Sterile' });
export const busy = or([inState({ hygiene: 'Cleaning' }), inState({ hygiene: 'Sterilising' })]) as never;
export const hygienic = or([inState({ hygiene: 'Clean' }), inSterile]) as never;

/** `notifyPhases` with `clean` known from the transition's hygiene target; allocation is read from the updated context. */
export const notify = (clean: boolean) => ({
  type: 'notifyPhases' as const,
  params: ({ context, event }: Args) => notifyParams(context, event.at, clean),
});

/** Who an input names, `system` when nobody. */
export const by = (event: UnitEvent): string => field(event, 'by') ?? 'system';
/** The meta of a state or transition: requirement id, diagram text and ISA-88 clause. */
export const m = (requirement: string, description: string, isa88?: string): UnitMeta =>
  ({ ...(isa88 ? { isa88 } : {}), description, requirement });

/** A CIP or SIP cycle as it starts. */
export const cycleOf = (kind: 'CIP' | 'SIP', event: UnitEvent) => {
  const deviationId = field(event, 'deviationId');
  return { kind, startedAt: event.at, startedBy: by(event), ...(deviationId ? { deviationId } : {}) };
};

/** The `recordCycle` effect: a CIP/SIP start or result for the audit trail, with who and when. */
export const cycleRecord = (kind: 'CIP' | 'SIP', step: 'start' | 'complete') => ({
  type: 'recordCycle' as const,
  params: ({ event }: Args) => ({
    kind, step, by: by(event), at: event.at,
    ...(step === 'complete' ? { ok: (event as { ok?: unknown }).ok === true } : {}),
    ...(field(event, 'deviationId') ? { deviationId: field(event, 'deviationId') } : {}),
  }),
});

/** The `recordMaintenance` effect: maintenance start or end, with who, when and the reason. */
export const maintenance = (step: 'start' | 'end') => ({
  type: 'recordMaintenance' as const,
  params: ({ event }: Args) => ({ step, by: by(event), at: event.at, ...(field(event, 'reason') ? { reason: field(event, 'reason') } : {}) }),
});

/** The `recordAllocation` effect: the batch the unit was allocated to, by whom, when and how. */
export const allocated = (via: 'allocate' | 'context') => ({
  type: 'recordAllocation' as const,
  params: ({ context, event }: Args) => ({ batchId: context.allocatedTo!, by: by(event), at: event.at, via }),
});

/** A refusing transition: a `reject` with a stable code, and its meta. */
export const refuse = (code: UnitRejection, requirement: string, description: string, message: (a: Args) => string, details?: (a: Args) => Record<string, unknown>) =>
  ({ actions: reject(code, message, details), meta: m(requirement, description) });

/** Refusals shared by several states: allocated, out of service, CIP/SIP running. */
export const inUse = (requirement: string, what: string) => refuse('unit_in_use', requirement, `${what} refused: unit allocated`,
  ({ context }) => `unit ${context.id} is allocated to batch ${context.allocatedTo}`, ({ context }) => ({ allocatedTo: context.allocatedTo }));
export const outOfService = (requirement: string, what: string) => refuse('unit_out_of_service', requirement, `${what} refused: out of service`,
  ({ context }) => `unit ${context.id} is out of service for maintenance (${context.maintenance?.reason})`);
export const cleaningInProgress = (requirement: string, what: string) => refuse('cleaning_in_progress', requirement, `${what} refused: CIP/SIP running`,
  ({ context }) => `a ${context.cycle?.kind} cycle is running on unit ${context.id}`);

/** The conditions every allocation (ALLOCATE or the MES context assertion) of an available unit must meet. */
export const allocationChecks = (what: string) => [
  { guard: busy, ...cleaningInProgress('URS-UNIT-003', what) },
  {
    guard: not(hygienic) as never,
    ...refuse('not_clean', 'URS-UNIT-003', `${what} refused: unit dirty`, ({ context }) => `unit ${context.id} is not clean`),
  },
  {
    guard: and(['sterileRequired', not(inSterile)]) as never,
    ...refuse('not_sterile', 'URS-UNIT-004', `${what} refused: equipment requires a sterile unit`, ({ context }) => `unit ${context.id} must be sterile before allocation`),
  },
  {
    guard: 'noLineClearance' as const,
    ...refuse('line_clearance_required', 'URS-UNIT-005', `${what} refused: no line clearance`, ({ context }) => `unit ${context.id} needs a line clearance before allocation`),
  },
  {
    guard: 'lineClearanceForOtherBatch' as const,
    ...refuse('line_clearance_batch_mismatch', 'URS-UNIT-005', `${what} refused: line clearance for another batch`,
      ({ context }) => `the line clearance of unit ${context.id} is for batch ${context.lineClearance?.batchId}`,
      ({ context }) => ({ lineClearanceFor: context.lineClearance?.batchId })),
  },
];

/** The transitions of a state with a running deadline: due moves on (`due`), early is refused. */
export const timer = (name: string, requirement: string, due: object, what: string) => [
  { guard: { type: 'timerDue' as const, params: { name } }, ...due, meta: m(requirement, `${what}`) },
  {
    guard: { type: 'timerPending' as const, params: { name } },
    ...refuse('timer_not_due', 'URS-UNIT-017', `Timer refused: ${name} not yet due`,
      ({ context }) => `${name} of unit ${context.id} runs until ${context.timers[name]}`, ({ context }) => ({ dueAt: context.timers[name] })),
  },
];

/** The unit becomes dirty: holds end, line clearance lapses, dirty hold starts, phases told. */
export const toDirty = { target: 'Dirty' as const, actions: ['soil' as const, notify(false)] };

/** The `contextAccepted` params: the assertion and whether its sequence skipped ahead (a gap). */
export function accepted({ context, event }: Args) {
  const e = event as Extract<UnitEvent, { type: 'ASSERT_CONTEXT' }>;
  return { contextId: e.contextId, batchId: e.batchId, seq: e.seq, gap: e.seq > context.lastSeq + 1, previousSeq: context.lastSeq };
}
