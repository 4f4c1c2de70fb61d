import { and, assign, enqueueActions, setup } from 'xstate';
import {
  CLEAN_HOLD_TIMER, DEFAULT_DIRTY_HOLD_MS, DEFAULT_STERILE_HOLD_MS, DIRTY_HOLD_TIMER, STERILE_HOLD_TIMER, UNIT_TIMERS,
  accepted, allocated, allocationChecks, batchOf, busy, by, cleaningInProgress, cycleOf, cycleRecord, field, hygienic,
  inAllocated, inDirty, inOutOfService, inUse, m, maintenance, notify, notifyParams, outOfService, refuse, soiled, timer,
  toDirty, without,
  type Timer,
  type UnitContext, type UnitContextAssertion, type UnitEvent, type UnitInput, type UnitMeta, type UnitRejectParams,
  type UnitStatus,
} from './unit.support.ts';

export {
  CLEAN_HOLD_TIMER, DEFAULT_DIRTY_HOLD_MS, DEFAULT_STERILE_HOLD_MS, DIRTY_HOLD_TIMER, STERILE_HOLD_TIMER, UNIT_TIMERS,
} from './unit.support.ts';
export type {
  Allocation, CleaningCycle, LineClearance, MaintenanceRecord, UnitContext, UnitContextAssertion, UnitEvent, UnitInput,
  UnitMeta, UnitRejectParams, UnitStatus,
} from './unit.support.ts';

/** Version of the unit machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const UNIT_MACHINE_VERSION = 2;

const unitSetup = setup({
  types: {} as { context: UnitContext; events: UnitEvent; input: UnitInput; meta: UnitMeta },
  guards: {
    sequenceInvalid: ({ event }) => event.type === 'ASSERT_CONTEXT' && !(Number.isInteger(event.seq) && event.seq >= 1),
    sequenceStale: ({ context, event }) => event.type === 'ASSERT_CONTEXT' && event.seq <= context.lastSeq,
    otherBatch: ({ context, event }) => context.allocatedTo !== undefined && batchOf(event) !== context.allocatedTo,
    releaseMatches: ({ context, event }) => event.type === 'RELEASE' && event.batchId === context.allocatedTo,
    sterileRequired: ({ context }) => context.requiresSterile,
    noLineClearance: ({ context }) => context.lineClearance === undefined,
    lineClearanceForOtherBatch: ({ context, event }) =>
      context.lineClearance?.batchId !== undefined && context.lineClearance.batchId !== batchOf(event),
    reasonMissing: ({ event }) => field(event, 'reason') === undefined,
    deviationRequired: ({ context, event }) =>
      (context.dirtyHoldExpired || (context.dirtyUntil !== undefined && event.at >= context.dirtyUntil)) &&
      field(event, 'deviationId') === undefined,
    cycleOk: ({ event }) => (event.type === 'CIP_COMPLETE' || event.type === 'SIP_COMPLETE') && event.ok === true,
    timerDue: ({ context, event }, { name }: Timer) =>
      event.type === 'TIMER' && event.name === name && context.timers[name] !== undefined && event.at >= context.timers[name],
    timerPending: ({ context, event }, { name }: Timer) =>
      event.type === 'TIMER' && event.name === name && context.timers[name] !== undefined,
    knownTimer: ({ event }) => event.type === 'TIMER' && (UNIT_TIMERS as readonly string[]).includes(event.name),
  },
  actions: {
    // Effects: interpreted by the actor host (actors/unit.actor.ts) from the returned action objects, never run here.
    reject: (_: unknown, _params: UnitRejectParams) => {},
    contextAccepted: (_: unknown, _params: { contextId: string; batchId: string; seq: number; gap: boolean; previousSeq: number }) => {},
    notifyPhases: (_: unknown, _params: { phases: string[]; status: UnitStatus; at: number }) => {},
    recordAllocation: (_: unknown, _params: { batchId: string; by: string; at: number; via: 'allocate' | 'context' }) => {},
    recordLineClearance: (_: unknown, _params: { by: string; at: number; batchId?: string }) => {},
    recordCycle: (_: unknown, _params: { kind: 'CIP' | 'SIP'; step: 'start' | 'complete'; by: string; at: number; ok?: boolean; deviationId?: string }) => {},
    recordMaintenance: (_: unknown, _params: { step: 'start' | 'end'; by: string; at: number; reason?: string }) => {},
    // Context updates.
    storeContext: assign(({ context, event }) => {
      if (event.type !== 'ASSERT_CONTEXT') return {};
      const { contextId, batchId, specVersion, seq, unitProcedure, operation, phase, at } = event;
      const optional = { unitProcedure, operation, phase };
      const asserted: UnitContextAssertion = {
        contextId, batchId, specVersion, seq, assertedAt: at, by: by(event),
        ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
      };
      const allocation = context.allocation ?? { batchId, by: by(event), at, via: 'context' as const };
      return { context: asserted, lastSeq: Math.max(seq, context.lastSeq), allocatedTo: batchId, allocation };
    }),
    allocate: assign(({ event }) => {
      const batchId = batchOf(event)!;
      return { allocatedTo: batchId, allocation: { batchId, by: by(event), at: event.at, via: 'allocate' as const } };
    }),
    clearContext: assign({ context: undefined, allocatedTo: undefined, allocation: undefined }),
    storeLineClearance: assign(({ event }) => {
      const batchId = batchOf(event);
      return { lineClearance: { by: by(event), at: event.at, ...(batchId ? { batchId } : {}) } };
    }),
    soil: assign(({ context, event }) => soiled(context, event.at)),
    startCip: assign(({ context, event }) => ({
      // Cleaning has started: the dirty-hold clock stops (a failed CIP resumes it).
      cycle: cycleOf('CIP', event), timers: without(context.timers, DIRTY_HOLD_TIMER),
      dirtyHoldExpired: context.dirtyHoldExpired || (context.dirtyUntil !== undefined && event.at >= context.dirtyUntil),
    })),
    startSip: assign(({ context, event }) => ({
      cycle: cycleOf('SIP', event), cleanUntil: undefined, timers: without(context.timers, CLEAN_HOLD_TIMER),
    })),
    completeCycle: assign(({ context, event }) => ({
      cycle: { ...context.cycle!, completedAt: event.at, completedBy: by(event), ok: (event as { ok?: unknown }).ok === true },
    })),
    startCleanHold: assign(({ context, event }) => {
      const cleanUntil = event.at + context.cleanHoldMs;
      return {
        cleanUntil, dirtyUntil: undefined, dirtyHoldExpired: false,
        timers: { ...without(context.timers, DIRTY_HOLD_TIMER), [CLEAN_HOLD_TIMER]: cleanUntil },
      };
    }),
    startSterileHold: assign(({ context, event }) => {
      const sterileUntil = event.at + context.sterileHoldMs;
      return { sterileUntil, timers: { ...context.timers, [STERILE_HOLD_TIMER]: sterileUntil } };
    }),
    // A failed CIP leaves the unit as dirty as before: the dirty-hold clock from its soiling runs on.
    resumeDirtyHold: assign(({ context }) => ({
      timers: context.dirtyHoldExpired || context.dirtyUntil === undefined
        ? context.timers
        : { ...context.timers, [DIRTY_HOLD_TIMER]: context.dirtyUntil },
    })),
    expireDirtyHold: assign(({ context }) => ({ dirtyHoldExpired: true, timers: without(context.timers, DIRTY_HOLD_TIMER) })),
    startMaintenance: assign(({ event }) => ({
      maintenance: { reason: field(event, 'reason')!, by: by(event), at: event.at }, lineClearance: undefined,
    })),
    endMaintenance: assign({ maintenance: undefined }),
    // Announces the unit status when hygiene is unchanged: params functions cannot see the state, check() can.
    announce: enqueueActions(({ context, event, check, enqueue }) => {
      enqueue({ type: 'notifyPhases', params: notifyParams(context, event.at, check(hygienic)) });
    }),
  },
});


/** The MES context sequence checks that come first in every availability state (CONTRACT.md `POST /units/:id/context`). */
const sequenceChecks = () => [
  {
    guard: 'sequenceInvalid' as const,
    ...refuse('invalid_sequence', 'URS-UNIT-009', 'Context refused: invalid sequence',
      ({ event }) => `context sequence must be a positive integer, got ${JSON.stringify((event as { seq?: unknown }).seq)}`),
  },
  {
    guard: 'sequenceStale' as const,
    ...refuse('stale_sequence', 'URS-UNIT-009', 'Context refused: sequence at or below the last accepted',
      ({ context, event }) => `context sequence ${(event as { seq: number }).seq} is not after ${context.lastSeq}`,
      ({ context }) => ({ lastSeq: context.lastSeq })),
  },
];

/**
 * The ISA-88 unit with its GMP equipment status: allocation to one batch at a time after line clearance, and the
 * hygiene cycle dirty → CIP → clean → SIP → sterile with dirty-hold, clean-hold and sterile-hold deadlines, and
 * maintenance taking it out of service (ISA-88.01 §4.2, §5.6; EU GMP Annex 1 §6, Annex 15 §10, Ch. 5.35).
 */
export const unitMachine = unitSetup.createMachine({
  id: 'unit',
  type: 'parallel',
  context: ({ input }) => {
    // A genuine first start: clean and available, the clean hold running from creation; a new unit never held a
    // batch, so nothing of one can be left on its line.
    const cleanUntil = input.createdAt + input.cleanHoldMs;
    return {
      id: input.id, phases: [...input.phases], cleanHoldMs: input.cleanHoldMs,
      dirtyHoldMs: input.dirtyHoldMs ?? DEFAULT_DIRTY_HOLD_MS, sterileHoldMs: input.sterileHoldMs ?? DEFAULT_STERILE_HOLD_MS,
      requiresSterile: input.requiresSterile ?? false,
      lastSeq: 0, cleanUntil, dirtyHoldExpired: false,
      lineClearance: { by: 'system', at: input.createdAt, firstStart: true },
      timers: { [CLEAN_HOLD_TIMER]: cleanUntil },
    };
  },
  meta: m('URS-UNIT-001', 'ISA-88 unit: allocation and GMP equipment status', '4.2'),
  states: {
    availability: {
      initial: 'Available',
      meta: m('URS-UNIT-002', 'Allocation: one batch at a time', '5.6'),
      on: {
        RELEASE: refuse('not_allocated', 'URS-UNIT-008', 'Release refused: unit not allocated', ({ context }) => `unit ${context.id} is not allocated`),
        MAINTENANCE_END: refuse('not_in_maintenance', 'URS-UNIT-019', 'Maintenance end refused: not in maintenance',
          ({ context }) => `unit ${context.id} is not in maintenance`),
      },
      states: {
        Available: {
          meta: m('URS-UNIT-002', 'Not allocated: may be allocated when clean and line-cleared', '5.6'),
          on: {
            ASSERT_CONTEXT: [
              ...sequenceChecks(),
              ...allocationChecks('Context'),
              {
                target: 'Allocated',
                actions: [{ type: 'contextAccepted', params: accepted }, 'storeContext', allocated('context'), 'announce'],
                meta: m('URS-UNIT-009', 'MES asserts context: unit allocated to the batch', '5.6'),
              },
            ],
            ALLOCATE: [
              ...allocationChecks('Allocation'),
              {
                target: 'Allocated',
                actions: ['allocate', allocated('allocate'), notify(true)],
                meta: m('URS-UNIT-002', 'Allocated to one batch', '5.6'),
              },
            ],
            LINE_CLEARANCE: [
              { guard: busy, ...cleaningInProgress('URS-UNIT-006', 'Line clearance') },
              {
                guard: inDirty,
                ...refuse('not_clean', 'URS-UNIT-006', 'Line clearance refused: unit dirty', ({ context }) => `unit ${context.id} must be clean for a line clearance`),
              },
              {
                actions: ['storeLineClearance', { type: 'recordLineClearance', params: ({ event }) => ({ by: by(event), at: event.at, ...(batchOf(event) ? { batchId: batchOf(event) } : {}) }) }],
                meta: m('URS-UNIT-006', 'Line clearance recorded: who, when, for which batch'),
              },
            ],
            MAINTENANCE_START: [
              {
                guard: 'reasonMissing',
                ...refuse('reason_required', 'URS-UNIT-018', 'Maintenance refused: no reason', () => 'maintenance needs a reason'),
              },
              { guard: busy, ...cleaningInProgress('URS-UNIT-018', 'Maintenance') },
              {
                guard: inDirty,
                target: 'OutOfService',
                actions: ['startMaintenance', maintenance('start')],
                meta: m('URS-UNIT-018', 'Maintenance starts on a dirty unit: out of service'),
              },
              {
                target: ['#unit.availability.OutOfService', '#unit.hygiene.Dirty'],
                actions: ['startMaintenance', 'soil', maintenance('start'), notify(false)],
                meta: m('URS-UNIT-018', 'Maintenance starts: out of service, no longer clean'),
              },
            ],
          },
        },
        Allocated: {
          meta: m('URS-UNIT-002', 'Allocated to one batch', '5.6'),
          on: {
            ASSERT_CONTEXT: [
              ...sequenceChecks(),
              { guard: 'otherBatch', ...inUse('URS-UNIT-009', 'Context') },
              {
                actions: [{ type: 'contextAccepted', params: accepted }, 'storeContext', 'announce'],
                meta: m('URS-UNIT-009', 'MES asserts context for the allocated batch', '5.6'),
              },
            ],
            ALLOCATE: inUse('URS-UNIT-002', 'Allocation'),
            LINE_CLEARANCE: inUse('URS-UNIT-006', 'Line clearance'),
            MAINTENANCE_START: inUse('URS-UNIT-018', 'Maintenance'),
            RELEASE: [
              {
                guard: and(['releaseMatches', inDirty]) as never,
                target: 'Available',
                actions: ['clearContext', notify(false)],
                meta: m('URS-UNIT-008', 'Batch releases a dirty unit: available, still dirty', '5.6'),
              },
              {
                guard: 'releaseMatches',
                // Used equipment is dirty: release moves both regions.
                target: ['#unit.availability.Available', '#unit.hygiene.Dirty'],
                actions: ['clearContext', 'soil', notify(false)],
                meta: m('URS-UNIT-008', 'Batch releases the unit: available and dirty', '5.6'),
              },
              refuse('batch_mismatch', 'URS-UNIT-008', 'Release refused: another batch holds the unit',
                ({ context, event }) => `unit ${context.id} is allocated to batch ${context.allocatedTo}, not ${batchOf(event)}`,
                ({ context }) => ({ allocatedTo: context.allocatedTo })),
            ],
          },
        },
        OutOfService: {
          meta: m('URS-UNIT-018', 'Maintenance: out of service'),
          on: {
            ASSERT_CONTEXT: [...sequenceChecks(), outOfService('URS-UNIT-007', 'Context')],
            ALLOCATE: outOfService('URS-UNIT-007', 'Allocation'),
            LINE_CLEARANCE: outOfService('URS-UNIT-006', 'Line clearance'),
            MAINTENANCE_START: outOfService('URS-UNIT-018', 'Maintenance'),
            MAINTENANCE_END: {
              target: 'Available',
              actions: ['endMaintenance', maintenance('end')],
              meta: m('URS-UNIT-019', 'Maintenance ends: available, to be cleaned'),
            },
          },
        },
      },
    },
    hygiene: {
      initial: 'Clean',
      meta: m('URS-UNIT-001', 'GMP equipment status: dirty, cleaning, clean, sterilising, sterile'),
      on: {
        CIP_COMPLETE: refuse('not_cleaning', 'URS-UNIT-012', 'CIP result refused: no CIP running', ({ context }) => `no CIP cycle is running on unit ${context.id}`),
        SIP_COMPLETE: refuse('not_sterilising', 'URS-UNIT-014', 'SIP result refused: no SIP running', ({ context }) => `no SIP cycle is running on unit ${context.id}`),
        // Reached when no deadline of that name is running.
        TIMER: [
          {
            guard: 'knownTimer',
            ...refuse('timer_stale', 'URS-UNIT-017', 'Timer refused: not running',
              ({ context, event }) => `unit ${context.id} has no ${(event as { name: string }).name} running`),
          },
          refuse('unknown_timer', 'URS-UNIT-017', 'Timer refused: unknown timer', ({ event }) => `unknown timer ${JSON.stringify((event as { name?: unknown }).name)}`),
        ],
      },
      states: {
        Dirty: {
          meta: m('URS-UNIT-012', 'Dirty: must be cleaned (CIP) before use, within the dirty-hold time'),
          on: {
            CIP_START: [
              { guard: inOutOfService, ...outOfService('URS-UNIT-010', 'CIP') },
              { guard: inAllocated, ...inUse('URS-UNIT-010', 'CIP') },
              {
                guard: 'deviationRequired',
                ...refuse('deviation_required', 'URS-UNIT-011', 'CIP refused: dirty hold expired, no deviation',
                  ({ context }) => `the dirty-hold time of unit ${context.id} expired at ${context.dirtyUntil}: cleaning needs a deviation reference`,
                  ({ context }) => ({ dirtyUntil: context.dirtyUntil })),
              },
              {
                target: 'Cleaning',
                actions: ['startCip', cycleRecord('CIP', 'start')],
                meta: m('URS-UNIT-010', 'CIP starts'),
              },
            ],
            SIP_START: refuse('not_clean', 'URS-UNIT-013', 'SIP refused: unit dirty', ({ context }) => `unit ${context.id} must be clean before SIP`),
            MARK_DIRTY: { meta: m('URS-UNIT-020', 'Marked dirty: already dirty, dirty hold runs on') },
            TIMER: timer(DIRTY_HOLD_TIMER, 'URS-UNIT-011', { actions: 'expireDirtyHold' }, 'Dirty-hold time expired: cleaning needs a deviation'),
          },
        },
        Cleaning: {
          meta: m('URS-UNIT-010', 'CIP running: the control system reports the result'),
          on: {
            CIP_COMPLETE: [
              {
                guard: 'cycleOk',
                target: 'Clean',
                actions: ['completeCycle', 'startCleanHold', cycleRecord('CIP', 'complete'), notify(true)],
                meta: m('URS-UNIT-012', 'CIP passed: clean, clean hold starts'),
              },
              {
                target: 'Dirty',
                actions: ['completeCycle', 'resumeDirtyHold', cycleRecord('CIP', 'complete')],
                meta: m('URS-UNIT-012', 'CIP failed: still dirty'),
              },
            ],
            CIP_START: cleaningInProgress('URS-UNIT-010', 'CIP'),
            SIP_START: cleaningInProgress('URS-UNIT-013', 'SIP'),
            MARK_DIRTY: cleaningInProgress('URS-UNIT-020', 'Mark dirty'),
          },
        },
        Clean: {
          meta: m('URS-UNIT-012', 'Clean until the clean-hold deadline'),
          on: {
            CIP_START: refuse('not_dirty', 'URS-UNIT-010', 'CIP refused: unit clean', ({ context }) => `unit ${context.id} is clean`),
            SIP_START: [
              { guard: inAllocated, ...inUse('URS-UNIT-013', 'SIP') },
              {
                target: 'Sterilising',
                actions: ['startSip', cycleRecord('SIP', 'start'), notify(false)],
                meta: m('URS-UNIT-013', 'SIP starts'),
              },
            ],
            MARK_DIRTY: { ...toDirty, meta: m('URS-UNIT-020', 'Marked dirty') },
            TIMER: timer(CLEAN_HOLD_TIMER, 'URS-UNIT-015', toDirty, 'Clean-hold time expired: dirty'),
          },
        },
        Sterilising: {
          meta: m('URS-UNIT-013', 'SIP running: the control system reports the result'),
          on: {
            SIP_COMPLETE: [
              {
                guard: 'cycleOk',
                target: 'Sterile',
                actions: ['completeCycle', 'startSterileHold', cycleRecord('SIP', 'complete'), notify(true)],
                meta: m('URS-UNIT-014', 'SIP passed: sterile until the sterile-hold deadline'),
              },
              {
                target: 'Dirty',
                actions: ['completeCycle', 'soil', cycleRecord('SIP', 'complete')],
                meta: m('URS-UNIT-014', 'SIP failed: dirty'),
              },
            ],
            CIP_START: cleaningInProgress('URS-UNIT-010', 'CIP'),
            SIP_START: cleaningInProgress('URS-UNIT-013', 'SIP'),
            MARK_DIRTY: cleaningInProgress('URS-UNIT-020', 'Mark dirty'),
          },
        },
        Sterile: {
          meta: m('URS-UNIT-014', 'Sterile until the sterile-hold deadline; counts as clean'),
          on: {
            CIP_START: refuse('not_dirty', 'URS-UNIT-010', 'CIP refused: unit sterile', ({ context }) => `unit ${context.id} is sterile`),
            SIP_START: refuse('already_sterile', 'URS-UNIT-013', 'SIP refused: unit sterile', ({ context }) => `unit ${context.id} is sterile until ${context.sterileUntil}`),
            MARK_DIRTY: { ...toDirty, meta: m('URS-UNIT-020', 'Marked dirty') },
            TIMER: timer(STERILE_HOLD_TIMER, 'URS-UNIT-016', toDirty, 'Sterile hold expired: dirty, to be cleaned and sterilised again'),
          },
        },
      },
    },
  },
  on: {
    '*': refuse('unknown_event', 'URS-UNIT-021', 'Unknown event: refused', ({ event }) => `unknown event ${JSON.stringify(event.type)}`),
  },
});

/** A persisted snapshot as the host stores it: state value and context. */
export interface UnitSnapshot { value: unknown; context: Record<string, unknown> }

/**
 * Migrates a persisted unit snapshot of `fromVersion` to UNIT_MACHINE_VERSION, or answers `undefined` when it cannot
 * (the host then quarantines the actor, DESIGN.md principle 3). v1 knew only Available/Allocated × Clean/Dirty: its
 * holds come from `input` (the unit's config) or the defaults; a v1 unit has no recorded line clearance, and the
 * soiling time of a v1 dirty unit is unknown, so its dirty hold counts as expired (cleaning needs a deviation).
 */
export function migrateUnitSnapshot(fromVersion: number, snapshot: UnitSnapshot, input?: Partial<UnitInput>): UnitSnapshot | undefined {
  if (fromVersion === UNIT_MACHINE_VERSION) return snapshot;
  if (fromVersion !== 1) return undefined;
  const value = snapshot.value as { availability?: unknown; hygiene?: unknown } | undefined;
  const c = snapshot.context as Record<string, unknown>;
  const availability = value?.availability;
  const hygiene = value?.hygiene;
  if ((availability !== 'Available' && availability !== 'Allocated') || (hygiene !== 'Clean' && hygiene !== 'Dirty')) return undefined;
  if (typeof c.id !== 'string' || !Array.isArray(c.phases) || typeof c.cleanHoldMs !== 'number' || typeof c.lastSeq !== 'number') return undefined;
  const timers = { ...(c.timers as Record<string, number> | undefined ?? {}) };
  const allocatedTo = typeof c.allocatedTo === 'string' ? c.allocatedTo : undefined;
  const assertion = c.context as UnitContextAssertion | undefined;
  const context: UnitContext = {
    id: c.id, phases: c.phases as string[], cleanHoldMs: c.cleanHoldMs,
    dirtyHoldMs: input?.dirtyHoldMs ?? DEFAULT_DIRTY_HOLD_MS, sterileHoldMs: input?.sterileHoldMs ?? DEFAULT_STERILE_HOLD_MS,
    requiresSterile: input?.requiresSterile ?? false,
    lastSeq: c.lastSeq, dirtyHoldExpired: hygiene === 'Dirty',
    ...(assertion ? { context: assertion } : {}),
    ...(allocatedTo ? {
      allocatedTo,
      allocation: { batchId: allocatedTo, by: assertion?.by ?? 'system', at: assertion?.assertedAt ?? 0, via: 'context' as const },
    } : {}),
    ...(hygiene === 'Clean' && typeof c.cleanUntil === 'number' ? { cleanUntil: c.cleanUntil } : {}),
    timers: hygiene === 'Clean' ? timers : without(timers, CLEAN_HOLD_TIMER),
  };
  return { value: { availability, hygiene }, context: context as unknown as Record<string, unknown> };
}
