import { and, assign, enqueueActions, not, setup, stateIn } from 'xstate';

/** Version of the phase machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const PHASE_MACHINE_VERSION = 1;

/** The 12 procedural element states of the ISA-88 example state model (ISA-88.01 §5.7.2). */
export const PHASE_STATES = [
  'Idle', 'Running', 'Complete', 'Pausing', 'Paused', 'Holding',
  'Held', 'Restarting', 'Stopping', 'Stopped', 'Aborting', 'Aborted',
] as const;

/** One ISA-88 procedural element state name (ISA-88.01 §5.7.2). */
export type PhaseState = (typeof PHASE_STATES)[number];

/** The 8 procedural element commands as event types (ISA-88.01 §5.7.3; B2MML JobOrderCommand). */
export const PHASE_COMMANDS = ['START', 'STOP', 'HOLD', 'RESTART', 'ABORT', 'RESET', 'PAUSE', 'RESUME'] as const;

/** One ISA-88 procedural element command (ISA-88.01 §5.7.3). */
export type PhaseCommand = (typeof PHASE_COMMANDS)[number];

/** Who runs the phase logic: the control system (automatic) or people (manual) (DESIGN.md principle 10). */
export type PhaseExecution = 'automatic' | 'manual';

/** Procedural element mode (ISA-88.01 §5.7.1). */
export type PhaseMode = 'Automatic' | 'Semi-automatic' | 'Manual';

const PHASE_MODES: readonly PhaseMode[] = ['Automatic', 'Semi-automatic', 'Manual'];

interface Stamp { at: number; by?: string }

/** A command event, e.g. `{ type: 'START', at, by, reason }` (ISA-88.01 §5.7.3). */
export type PhaseCommandEvent = { [C in PhaseCommand]: Stamp & { type: C; reason?: string } }[PhaseCommand];

/** Every input the phase machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type PhaseEvent =
  | PhaseCommandEvent
  | (Stamp & { type: 'STATE_COMPLETE'; from?: PhaseState; reason?: string })
  | (Stamp & { type: 'PLC_STATE'; state: PhaseState })
  | (Stamp & { type: 'UNIT_STATUS'; contextId?: string; batchId?: string; clean: boolean; allocated: boolean })
  | (Stamp & { type: 'INTERLOCK'; id: string; active: boolean })
  | (Stamp & { type: 'CRITICAL_EXCEPTION'; id: string; unsigned: boolean })
  | (Stamp & { type: 'SET_MODE'; mode: PhaseMode });

/** Phase actor input: identity, unit and how the phase is executed (ISA-88.01 §5.7). */
export interface PhaseInput {
  id: string;
  unit: string;
  execution: PhaseExecution;
  source?: string;
  commandTag?: string;
}

/** The conditions that gate Start, Restart and Resume (CONTRACT.md, POST /phases/:id/commands). */
export interface PhasePermissives {
  contextId?: string;
  batchId?: string;
  unitClean: boolean;
  unitAllocated: boolean;
  interlocks: string[];
  unsignedCriticalExceptions: string[];
}

/** A command as accepted, with its time and author (ALCOA: attributable, contemporaneous). */
export interface CommandRecord { command: PhaseCommand; at: number; by?: string }

/** Phase machine context (ISA-88.01 §5.7). */
export interface PhaseContext {
  id: string;
  unit: string;
  execution: PhaseExecution;
  mode: PhaseMode;
  source?: string;
  commandTag?: string;
  permissives: PhasePermissives;
  lastCommand?: CommandRecord;
  pendingCommand?: CommandRecord;
}

/** Every code the phase machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const PHASE_REJECTIONS = [
  'automatic_phase',
  'command_not_allowed',
  'invalid_mode',
  'invalid_state',
  'manual_phase',
  'not_transient',
  'permissive_failed',
  'plc_not_configured',
  'state_changed',
  'unknown_event',
] as const;
export type PhaseRejection = (typeof PHASE_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface PhaseRejectParams { code: PhaseRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams. */
export interface PhaseMeta { isa88?: string; description: string }

// ISA-88.01 §5.7.3, STANDARDS.md §1.2/§1.3: the machine's command transitions are generated from this table.
const COMMAND_TARGETS: Readonly<Record<PhaseState, Partial<Record<PhaseCommand, PhaseState>>>> = {
  Idle: { START: 'Running' },
  Running: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting', PAUSE: 'Pausing' },
  Complete: { RESET: 'Idle' },
  Pausing: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting' },
  Paused: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting', RESUME: 'Running' },
  Holding: { STOP: 'Stopping', ABORT: 'Aborting' },
  Held: { STOP: 'Stopping', RESTART: 'Restarting', ABORT: 'Aborting' },
  Restarting: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting' },
  Stopping: { ABORT: 'Aborting' },
  Stopped: { ABORT: 'Aborting', RESET: 'Idle' },
  Aborting: {},
  Aborted: { RESET: 'Idle' },
};

// "State complete" (SC): the transient state's own logic has finished.
const SC_TARGETS: Partial<Record<PhaseState, PhaseState>> = {
  Running: 'Complete', Pausing: 'Paused', Holding: 'Held',
  Restarting: 'Running', Stopping: 'Stopped', Aborting: 'Aborted',
};

const STATE_TEXT: Record<PhaseState, string> = {
  Idle: 'Quiescent (initial): not executing, waits for Start',
  Running: 'Transient: normal logic is executing',
  Complete: 'Final: normal logic has finished, waits for Reset',
  Pausing: 'Transient: moving to the next programmed pause point',
  Paused: 'Quiescent: stopped at the pause point, waits for Resume',
  Holding: 'Transient: hold logic brings the element to a safe hold',
  Held: 'Quiescent: hold finished, waits for Restart, Stop or Abort',
  Restarting: 'Transient: restart logic is running, returns to Running',
  Stopping: 'Transient: controlled (normal) stop logic',
  Stopped: 'Final: stop finished, waits for Reset',
  Aborting: 'Transient: fast or emergency stop logic',
  Aborted: 'Final: abort finished, waits for Reset',
};

// Only these commands are gated by permissives; Hold, Stop and Abort must always get through (CONTRACT.md).
const GATED: ReadonlySet<PhaseCommand> = new Set<PhaseCommand>(['START', 'RESTART', 'RESUME']);

const title = (command: string): string => command.charAt(0) + command.slice(1).toLowerCase();

/** True when `value` is one of the 12 ISA-88 state names (ISA-88.01 §5.7.2). */
export function isPhaseState(value: unknown): value is PhaseState {
  return typeof value === 'string' && (PHASE_STATES as readonly string[]).includes(value);
}

/** True when `from → to` is a command or state-complete transition of the ISA-88 table (ISA-88.01 §5.7.2–5.7.3). */
export function isIsa88Transition(from: PhaseState, to: PhaseState): boolean {
  return SC_TARGETS[from] === to || Object.values(COMMAND_TARGETS[from]).includes(to);
}

/** Human sentences naming each failed permissive; empty when Start, Restart and Resume may proceed. */
export function permissiveReasons(context: PhaseContext): string[] {
  const p = context.permissives;
  const unit = context.unit;
  const reasons: string[] = [];
  if (!p.contextId) reasons.push(`no context asserted on unit ${unit}`);
  if (!p.unitClean) reasons.push(`unit ${unit} is not clean`);
  if (!p.unitAllocated) reasons.push(`unit ${unit} is not allocated to a batch`);
  for (const id of p.interlocks) reasons.push(`interlock ${id} is active on unit ${unit}`);
  for (const id of p.unsignedCriticalExceptions) reasons.push(`critical exception ${id} is not signed`);
  return reasons;
}

const withItem = (list: string[], id: string, present: boolean): string[] =>
  present ? (list.includes(id) ? list : [...list, id]) : list.filter((x) => x !== id);

const commandOf = (event: PhaseEvent): CommandRecord => ({
  command: event.type as PhaseCommand, at: event.at, ...(event.by === undefined ? {} : { by: event.by }),
});

const reasonOf = (event: PhaseEvent): { reason?: string } =>
  'reason' in event && event.reason !== undefined ? { reason: event.reason } : {};

// stateIn() is typed for any guard set, check() inside setup() for none: hence the cast.
const inState = (state: PhaseState) => stateIn(state) as never;

const phaseSetup = setup({
  types: {} as {
    context: PhaseContext;
    events: PhaseEvent;
    input: PhaseInput;
    meta: PhaseMeta;
  },
  guards: {
    permissivesMet: ({ context }) => permissiveReasons(context).length === 0,
    isAutomatic: ({ context }) => context.execution === 'automatic',
    isManual: ({ context }) => context.execution === 'manual',
    plcConfigured: ({ context }) => Boolean(context.source && context.commandTag),
    fromMatches: ({ event }, params: { state: PhaseState }) =>
      event.type === 'STATE_COMPLETE' && (event.from === undefined || event.from === params.state),
    plcStateUnknown: ({ event }) => event.type === 'PLC_STATE' && !isPhaseState(event.state),
    plcReports: ({ event }, params: { state: PhaseState }) => event.type === 'PLC_STATE' && event.state === params.state,
    validMode: ({ event }) => event.type === 'SET_MODE' && PHASE_MODES.includes(event.mode),
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: PhaseRejectParams) => {},
    recordCommand: (_: unknown, _params: { command: PhaseCommand; from: PhaseState; to: PhaseState; at: number; by?: string; reason?: string }) => {},
    recordStateComplete: (_: unknown, _params: { from: PhaseState; to: PhaseState; at: number; by?: string; reason?: string }) => {},
    writePlc: (_: unknown, _params: { source: string; tag: string; value: PhaseCommand }) => {},
    annotate: (_: unknown, _params: { code: 'unexpected_transition'; from: PhaseState; to: PhaseState }) => {},
    // Context updates.
    storeCommand: assign({ lastCommand: ({ event }) => commandOf(event) }),
    storePendingCommand: assign(({ event }) => ({ lastCommand: commandOf(event), pendingCommand: commandOf(event) })),
    clearPendingCommand: assign({ pendingCommand: undefined }),
    storeUnitStatus: assign({
      // The unit's status replaces the previous one; absent ids are left out, not stored as undefined.
      permissives: ({ context, event }) => {
        if (event.type !== 'UNIT_STATUS') return context.permissives;
        const { interlocks, unsignedCriticalExceptions } = context.permissives;
        return {
          ...(event.contextId ? { contextId: event.contextId } : {}),
          ...(event.batchId ? { batchId: event.batchId } : {}),
          unitClean: event.clean === true, unitAllocated: event.allocated === true, interlocks, unsignedCriticalExceptions,
        };
      },
    }),
    storeInterlock: assign({
      permissives: ({ context, event }) => (event.type !== 'INTERLOCK' ? context.permissives : {
        ...context.permissives, interlocks: withItem(context.permissives.interlocks, event.id, event.active === true),
      }),
    }),
    storeCriticalException: assign({
      permissives: ({ context, event }) => (event.type !== 'CRITICAL_EXCEPTION' ? context.permissives : {
        ...context.permissives,
        unsignedCriticalExceptions: withItem(context.permissives.unsignedCriticalExceptions, event.id, event.unsigned === true),
      }),
    }),
    storeMode: assign({ mode: ({ context, event }) => (event.type === 'SET_MODE' ? event.mode : context.mode) }),
    // Resolvers that need the current state, which params functions cannot see; `check(stateIn(...))` can, and
    // during a transition's actions it still reports the source state.
    rejectCommand: enqueueActions(({ event, check, enqueue }) => {
      const state = PHASE_STATES.find((s) => check(inState(s)));
      const allowed = state ? allowedCommands(state) : [];
      enqueue({
        type: 'reject',
        params: {
          code: 'command_not_allowed',
          message: `${title(event.type)} is not allowed in state ${state}; allowed: ${allowed.map(title).join(', ') || 'none'}`,
          command: event.type, state, allowed,
        },
      });
    }),
    rejectStateComplete: enqueueActions(({ event, check, enqueue }) => {
      const state = PHASE_STATES.find((s) => check(inState(s)));
      const from = event.type === 'STATE_COMPLETE' ? event.from : undefined;
      const params: PhaseRejectParams = from !== undefined && from !== state
        ? { code: 'state_changed', message: `the phase is in ${state}, not ${from}`, state }
        : { code: 'not_transient', message: `${state} is not a transient state; there is no logic to complete`, state };
      enqueue({ type: 'reject', params });
    }),
    annotatePlcMove: enqueueActions(({ event, check, enqueue }) => {
      const from = PHASE_STATES.find((s) => check(inState(s)));
      if (event.type !== 'PLC_STATE' || !from || from === event.state || isIsa88Transition(from, event.state)) return;
      enqueue({ type: 'annotate', params: { code: 'unexpected_transition', from, to: event.state } });
    }),
  },
});

type Args = { context: PhaseContext; event: PhaseEvent };

const reject = (code: PhaseRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): PhaseRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

/** The handlers of one valid (state, command) cell: permissive gate, automatic write, manual move. */
function commandTransition(from: PhaseState, command: PhaseCommand, to: PhaseState) {
  const name = title(command);
  const gate = GATED.has(command) ? [{
    guard: not('permissivesMet'),
    actions: reject('permissive_failed',
      ({ context }) => `${name} refused: permissives not met on unit ${context.unit}`,
      ({ context }) => ({ command, reasons: permissiveReasons(context) })),
    meta: { isa88: '5.7.3', description: `${name} refused while a permissive fails` },
  }] : [];
  return [
    ...gate,
    {
      guard: and(['isAutomatic', not('plcConfigured')]),
      actions: reject('plc_not_configured',
        ({ context }) => `automatic phase ${context.id} has no command source and tag configured`),
      meta: { description: `${name} refused: automatic phase without a command tag` },
    },
    {
      guard: 'isAutomatic' as const,
      actions: [
        { type: 'writePlc' as const, params: ({ context }: Args) => ({
          source: context.source ?? '', tag: context.commandTag ?? '', value: command,
        }) },
        'storePendingCommand' as const,
      ],
      meta: { isa88: '5.7.3', description: `${name} written to the control system; the state follows its report` },
    },
    {
      target: to,
      actions: [
        'storeCommand' as const,
        { type: 'recordCommand' as const, params: ({ event }: Args) => ({ from, to, ...commandOf(event), ...reasonOf(event) }) },
      ],
      meta: { isa88: '5.7.3', description: `${name}: ${from} → ${to}` },
    },
  ];
}

/** "State complete" for a manual phase; anything else falls through to the root handler, which rejects it. */
function stateCompleteTransition(from: PhaseState, to: PhaseState) {
  return {
    guard: and(['isManual', { type: 'fromMatches', params: { state: from } }]),
    target: to,
    actions: {
      type: 'recordStateComplete' as const,
      params: ({ event }: Args) => ({
        from, to, at: event.at, ...(event.by === undefined ? {} : { by: event.by }), ...reasonOf(event),
      }),
    },
    meta: { isa88: '5.7.2', description: `State complete (manual): ${from} → ${to}` },
  };
}

function stateNode(state: PhaseState) {
  const on: Partial<Record<PhaseCommand, ReturnType<typeof commandTransition>>> & {
    STATE_COMPLETE?: ReturnType<typeof stateCompleteTransition>;
  } = {};
  for (const command of PHASE_COMMANDS) {
    const to = COMMAND_TARGETS[state][command];
    if (to) on[command] = commandTransition(state, command, to);
  }
  const completeTo = SC_TARGETS[state];
  if (completeTo) on.STATE_COMPLETE = stateCompleteTransition(state, completeTo);
  return { meta: { isa88: '5.7.2', description: STATE_TEXT[state] }, on };
}

const states = Object.fromEntries(PHASE_STATES.map((s) => [s, stateNode(s)])) as Record<PhaseState, ReturnType<typeof stateNode>>;

const notAllowed = { actions: 'rejectCommand' as const, meta: { isa88: '5.7.3', description: 'Command not valid in this state: refused' } };

/** PLC_STATE: the control system is the record of an automatic phase, so any reported state is followed. */
const followPlc = PHASE_STATES.map((s) => ({
  guard: { type: 'plcReports' as const, params: { state: s } },
  target: `.${s}`,
  actions: ['annotatePlcMove' as const, 'clearPendingCommand' as const],
  meta: { description: `Control system reports ${s}` },
}));

/** The ISA-88 procedural element state machine of one phase (ISA-88.01 §5.7.2–5.7.3). */
export const phaseMachine = phaseSetup.createMachine({
  id: 'phase',
  initial: 'Idle',
  context: ({ input }) => ({
    id: input.id,
    unit: input.unit,
    execution: input.execution,
    mode: 'Automatic',
    ...(input.source === undefined ? {} : { source: input.source }),
    ...(input.commandTag === undefined ? {} : { commandTag: input.commandTag }),
    permissives: { unitClean: false, unitAllocated: false, interlocks: [], unsignedCriticalExceptions: [] },
  }),
  meta: { isa88: '5.7', description: 'ISA-88 procedural element (phase)' },
  states,
  on: {
    START: notAllowed, STOP: notAllowed, HOLD: notAllowed, RESTART: notAllowed,
    ABORT: notAllowed, RESET: notAllowed, PAUSE: notAllowed, RESUME: notAllowed,
    STATE_COMPLETE: [
      {
        guard: 'isAutomatic',
        actions: reject('automatic_phase',
          ({ context }) => `phase ${context.id} is automatic: its state comes only from the control system`),
        meta: { description: 'State complete refused: automatic phase' },
      },
      { actions: 'rejectStateComplete', meta: { isa88: '5.7.2', description: 'State complete refused: state changed or not transient' } },
    ],
    PLC_STATE: [
      {
        guard: 'isManual',
        actions: reject('manual_phase', ({ context }) => `phase ${context.id} is manual: the control system does not drive it`),
        meta: { description: 'Control-system state refused: manual phase' },
      },
      {
        guard: 'plcStateUnknown',
        actions: reject('invalid_state', ({ event }) => `unknown phase state ${JSON.stringify((event as { state?: unknown }).state)}`),
        meta: { description: 'Control-system state refused: not an ISA-88 state' },
      },
      ...followPlc,
    ],
    UNIT_STATUS: { actions: 'storeUnitStatus', meta: { description: 'Unit context, cleanliness and allocation' } },
    INTERLOCK: { actions: 'storeInterlock', meta: { description: 'Interlock raised or cleared' } },
    CRITICAL_EXCEPTION: { actions: 'storeCriticalException', meta: { description: 'Critical exception opened or signed' } },
    SET_MODE: [
      { guard: 'validMode', actions: 'storeMode', meta: { isa88: '5.7.1', description: 'Mode change' } },
      { actions: reject('invalid_mode', () => 'mode must be Automatic, Semi-automatic or Manual'), meta: { description: 'Mode change refused' } },
    ],
    '*': {
      actions: reject('unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`),
      meta: { description: 'Unknown event: refused' },
    },
  },
});

const allowedByState = new Map<PhaseState, readonly PhaseCommand[]>();

/** The commands a state accepts from the state model alone, read from the machine definition (ISA-88.01 §5.7.3). */
export function allowedCommands(state: PhaseState): PhaseCommand[] {
  let allowed = allowedByState.get(state);
  if (!allowed) {
    const defined = Object.keys(phaseMachine.states[state]?.on ?? {});
    allowed = PHASE_COMMANDS.filter((c) => defined.includes(c));
    allowedByState.set(state, allowed);
  }
  return [...allowed];
}
