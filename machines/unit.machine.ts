import { assign, enqueueActions, setup, stateIn } from 'xstate';

/** Version of the unit machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const UNIT_MACHINE_VERSION = 1;

/** Unit actor input; `createdAt` starts the first clean hold, since a machine has no clock (ISA-88.01 §4.2). */
export interface UnitInput {
  id: string;
  phases: string[];
  cleanHoldMs: number;
  createdAt: number;
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

/** Unit machine context; `timers` holds absolute deadlines the host schedules (DESIGN.md principle 7). */
export interface UnitContext {
  id: string;
  phases: string[];
  cleanHoldMs: number;
  context?: UnitContextAssertion;
  lastSeq: number;
  allocatedTo?: string;
  cleanUntil?: number;
  timers: Record<string, number>;
}

/** Every input the unit machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type UnitEvent =
  | {
    type: 'ASSERT_CONTEXT'; at: number; by: string; contextId: string; batchId: string;
    specVersion: string | number; seq: number; unitProcedure?: string; operation?: string; phase?: string;
  }
  | { type: 'RELEASE'; at: number; by: string; batchId: string }
  | { type: 'CLEANED'; at: number; by: string }
  | { type: 'MARK_DIRTY'; at: number; by?: string; reason?: string }
  | { type: 'TIMER'; at: number; name: string; by?: string };

/** The unit status every phase of the unit receives as its `UNIT_STATUS` permissives input. */
export interface UnitStatus { contextId?: string; batchId?: string; clean: boolean; allocated: boolean }

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface UnitRejectParams { code: string; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams. */
export interface UnitMeta { isa88?: string; description: string }

/** Name of the clean-hold deadline in `timers`. */
export const CLEAN_HOLD_TIMER = 'cleanHold';

type Args = { context: UnitContext; event: UnitEvent };

const reject = (code: string, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): UnitRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

const withoutCleanHold = (timers: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(timers).filter(([name]) => name !== CLEAN_HOLD_TIMER));

const notifyParams = (context: UnitContext, at: number, clean: boolean) => ({
  phases: context.phases,
  status: {
    ...(context.context ? { contextId: context.context.contextId, batchId: context.context.batchId } : {}),
    clean,
    allocated: context.allocatedTo !== undefined,
  } satisfies UnitStatus,
  at,
});

/** `notifyPhases` for a transition that sets hygiene to `clean`; allocation is read from the updated context. */
const notify = (clean: boolean) => ({
  type: 'notifyPhases' as const,
  params: ({ context, event }: Args) => notifyParams(context, event.at, clean),
});

// stateIn() is typed for any guard set, check() inside setup() for none: hence the cast.
const isClean = stateIn({ hygiene: 'Clean' }) as never;

const unitSetup = setup({
  types: {} as { context: UnitContext; events: UnitEvent; input: UnitInput; meta: UnitMeta },
  guards: {
    sequenceInvalid: ({ event }) => event.type === 'ASSERT_CONTEXT' && !(Number.isInteger(event.seq) && event.seq >= 1),
    sequenceStale: ({ context, event }) => event.type === 'ASSERT_CONTEXT' && event.seq <= context.lastSeq,
    inUseByOtherBatch: ({ context, event }) =>
      event.type === 'ASSERT_CONTEXT' && context.allocatedTo !== undefined && context.allocatedTo !== event.batchId,
    releaseMatches: ({ context, event }) => event.type === 'RELEASE' && event.batchId === context.allocatedTo,
    isCleanHoldTimer: ({ event }) => event.type === 'TIMER' && event.name === CLEAN_HOLD_TIMER,
    cleanHoldExpired: ({ context, event }) => event.type === 'TIMER' && event.name === CLEAN_HOLD_TIMER &&
      context.cleanUntil !== undefined && event.at >= context.cleanUntil,
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: UnitRejectParams) => {},
    contextAccepted: (_: unknown, _params: { contextId: string; batchId: string; seq: number; gap: boolean; previousSeq: number }) => {},
    notifyPhases: (_: unknown, _params: { phases: string[]; status: UnitStatus; at: number }) => {},
    // Context updates.
    storeContext: assign(({ context, event }) => {
      if (event.type !== 'ASSERT_CONTEXT') return {};
      const { contextId, batchId, specVersion, seq, unitProcedure, operation, phase, at, by } = event;
      const optional = { unitProcedure, operation, phase };
      const asserted: UnitContextAssertion = {
        contextId, batchId, specVersion, seq, assertedAt: at, by,
        ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
      };
      return { context: asserted, lastSeq: Math.max(seq, context.lastSeq), allocatedTo: batchId };
    }),
    clearContext: assign({ context: undefined, allocatedTo: undefined }),
    startCleanHold: assign(({ context, event }) => {
      const cleanUntil = event.at + context.cleanHoldMs;
      return { cleanUntil, timers: { ...context.timers, [CLEAN_HOLD_TIMER]: cleanUntil } };
    }),
    endCleanHold: assign(({ context }) => ({ cleanUntil: undefined, timers: withoutCleanHold(context.timers) })),
    // Announces the unit status when this transition leaves hygiene unchanged: params functions cannot see the
    // state, `check(stateIn(...))` can.
    announce: enqueueActions(({ context, event, check, enqueue }) => {
      enqueue({ type: 'notifyPhases', params: notifyParams(context, event.at, check(isClean)) });
    }),
  },
});

/** A minimal ISA-88 unit: allocation to one batch at a time and hygiene with a clean-hold deadline (ISA-88.01 §4.2, §5.6). */
export const unitMachine = unitSetup.createMachine({
  id: 'unit',
  type: 'parallel',
  context: ({ input }) => {
    // A genuine first start: the unit is clean and available, and its clean hold runs from creation.
    const cleanUntil = input.createdAt + input.cleanHoldMs;
    return {
      id: input.id, phases: [...input.phases], cleanHoldMs: input.cleanHoldMs,
      lastSeq: 0, cleanUntil, timers: { [CLEAN_HOLD_TIMER]: cleanUntil },
    };
  },
  meta: { isa88: '4.2', description: 'ISA-88 unit: allocation and hygiene' },
  states: {
    availability: {
      initial: 'Available',
      meta: { isa88: '5.6', description: 'Allocation: one batch at a time' },
      on: {
        ASSERT_CONTEXT: [
          {
            guard: 'sequenceInvalid',
            actions: reject('invalid_sequence', ({ event }) =>
              `context sequence must be a positive integer, got ${JSON.stringify((event as { seq?: unknown }).seq)}`),
            meta: { description: 'Context refused: invalid sequence' },
          },
          {
            guard: 'sequenceStale',
            actions: reject('stale_sequence',
              ({ context, event }) => `context sequence ${(event as { seq: number }).seq} is not after ${context.lastSeq}`,
              ({ context }) => ({ lastSeq: context.lastSeq })),
            meta: { description: 'Context refused: sequence at or below the last accepted' },
          },
          {
            guard: 'inUseByOtherBatch',
            actions: reject('unit_in_use',
              ({ context }) => `unit ${context.id} is allocated to batch ${context.allocatedTo}`,
              ({ context }) => ({ allocatedTo: context.allocatedTo })),
            meta: { isa88: '5.6', description: 'Context refused: unit allocated to another batch' },
          },
          {
            target: '.Allocated',
            actions: [
              {
                type: 'contextAccepted',
                params: ({ context, event }) => ({
                  contextId: event.contextId, batchId: event.batchId, seq: event.seq,
                  gap: event.seq > context.lastSeq + 1, previousSeq: context.lastSeq,
                }),
              },
              'storeContext',
              'announce',
            ],
            meta: { isa88: '5.6', description: 'MES asserts context: unit allocated to the batch' },
          },
        ],
        // Reached only from Available: Allocated handles every RELEASE itself.
        RELEASE: {
          actions: reject('not_allocated', ({ context }) => `unit ${context.id} is not allocated`),
          meta: { description: 'Release refused: unit not allocated' },
        },
      },
      states: {
        Available: { meta: { isa88: '5.6', description: 'Not allocated: may be allocated to a batch' } },
        Allocated: {
          meta: { isa88: '5.6', description: 'Allocated to one batch; context asserted' },
          on: {
            RELEASE: [
              {
                guard: 'releaseMatches',
                // Used equipment is dirty: release moves both regions.
                target: ['#unit.availability.Available', '#unit.hygiene.Dirty'],
                actions: ['clearContext', 'endCleanHold', notify(false)],
                meta: { isa88: '5.6', description: 'Batch releases the unit: available and dirty' },
              },
              {
                actions: reject('batch_mismatch',
                  ({ context, event }) => `unit ${context.id} is allocated to batch ${context.allocatedTo}, not ${(event as { batchId?: string }).batchId}`,
                  ({ context }) => ({ allocatedTo: context.allocatedTo })),
                meta: { description: 'Release refused: another batch holds the unit' },
              },
            ],
          },
        },
      },
    },
    hygiene: {
      initial: 'Clean',
      meta: { description: 'Hygiene: cleaning status with a clean-hold time' },
      on: {
        CLEANED: {
          target: '.Clean',
          actions: ['startCleanHold', notify(true)],
          meta: { description: 'Cleaning recorded: clean, hold time restarts' },
        },
        MARK_DIRTY: {
          target: '.Dirty',
          actions: ['endCleanHold', notify(false)],
          meta: { description: 'Marked dirty' },
        },
        // Reached when no clean hold is due: the unit is dirty already, or the timer is not ours.
        TIMER: [
          {
            guard: 'isCleanHoldTimer',
            actions: reject('timer_stale', ({ context }) => `unit ${context.id} has no clean hold running`),
            meta: { description: 'Timer refused: no clean hold running' },
          },
          {
            actions: reject('unknown_timer', ({ event }) => `unknown timer ${JSON.stringify((event as { name?: unknown }).name)}`),
            meta: { description: 'Timer refused: unknown timer' },
          },
        ],
      },
      states: {
        Clean: {
          meta: { description: 'Clean until the clean-hold deadline' },
          on: {
            TIMER: [
              {
                guard: 'cleanHoldExpired',
                target: 'Dirty',
                actions: ['endCleanHold', notify(false)],
                meta: { description: 'Clean-hold time expired: dirty' },
              },
              {
                guard: 'isCleanHoldTimer',
                actions: reject('timer_not_due',
                  ({ context }) => `clean hold of unit ${context.id} runs until ${context.cleanUntil}`,
                  ({ context }) => ({ dueAt: context.cleanUntil })),
                meta: { description: 'Timer refused: clean hold not yet expired' },
              },
            ],
          },
        },
        Dirty: { meta: { description: 'Must be cleaned before a phase may start' } },
      },
    },
  },
  on: {
    '*': {
      actions: reject('unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`),
      meta: { description: 'Unknown event: refused' },
    },
  },
});
