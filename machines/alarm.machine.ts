import { and, assign, setup, stateIn } from 'xstate';
import type { StateValue } from 'xstate';

/** Version of the alarm machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const ALARM_MACHINE_VERSION = 1;

/** Name of the shelve-expiry deadline in `timers` (ISA-18.2-2016 §11.5, timed shelving). */
export const SHELVE_TIMER = 'shelveExpiry';

/** Who the runtime names as author of the commands it sends by itself, e.g. on shelve expiry. */
export const SYSTEM_USER = 'system';

/** Alarm priority from the alarm rationalisation (config/alarms.json). */
export type AlarmPriority = 'low' | 'medium' | 'high' | 'urgent';

/** Alarm actor input, from the alarm rationalisation (ISA-18.2-2016 §10 alarm classes and attributes). */
export interface AlarmInput { id: string; unit: string; priority: AlarmPriority; critical: boolean; latching?: boolean }

/** Process and acknowledgement sub-states of the `alarm` region (STANDARDS.md §3.1, letters A–F of 2016). */
export const ALARM_PROCESS_STATES = [
  'Normal', 'Unacknowledged', 'Acknowledged', 'ReturnedToNormalUnacknowledged',
  'LatchedUnacknowledged', 'LatchedAcknowledged',
] as const;
export type AlarmProcessState = (typeof ALARM_PROCESS_STATES)[number];

/** The ISA-18.2 (2016) state names, as `GET /alarms` reports them in `state` (CONTRACT.md §2). */
export const ISA18_STATE_NAMES = {
  A: 'Normal', B: 'Unacknowledged', C: 'Acknowledged', D: 'Returned-to-normal unacknowledged',
  E: 'Latched-unacknowledged', F: 'Latched-acknowledged', G: 'Shelved', H: 'Suppressed-by-design', I: 'Out-of-service',
} as const;
export type Isa18Letter = keyof typeof ISA18_STATE_NAMES;
export type Isa18StateName = (typeof ISA18_STATE_NAMES)[Isa18Letter];

const PROCESS_LETTER: Record<AlarmProcessState, Isa18Letter> = {
  Normal: 'A', Unacknowledged: 'B', Acknowledged: 'C', ReturnedToNormalUnacknowledged: 'D',
  LatchedUnacknowledged: 'E', LatchedAcknowledged: 'F',
};

/** The commands Phaseline may send to the control system for an alarm (CONTRACT.md, allowlisted `cmd.<src>`). */
export type AlarmCommand = 'ack' | 'shelve' | 'unshelve' | 'outOfService' | 'returnToService';

/** A state report from the control system (CONTRACT.md §5.2 `alm.<src>`); `latched: false` reports an operator reset. */
export interface AlarmReport {
  type: 'REPORT'; at: number; active: boolean; acked?: boolean; ackedBy?: string; latched?: boolean;
  shelved?: boolean; suppressed?: boolean; outOfService?: boolean; value?: unknown; message?: string;
}

/** Every input the alarm machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type AlarmEvent =
  | AlarmReport
  | { type: 'ACK_REQUEST'; at: number; by: string }
  | { type: 'SHELVE_REQUEST'; at: number; by: string; reason: string; until: number }
  | { type: 'UNSHELVE_REQUEST'; at: number; by: string; reason?: string }
  | { type: 'OUT_OF_SERVICE_REQUEST'; at: number; by: string; reason: string }
  | { type: 'RETURN_TO_SERVICE_REQUEST'; at: number; by: string; reason?: string }
  | { type: 'TIMER'; at: number; name: string; by?: string };

/** Who did something when, and why (ALCOA: attributable, contemporaneous). */
export interface AlarmStamp { at: number; by?: string; reason?: string; until?: number }

/** Alarm machine context; `timers` holds absolute deadlines the host schedules (DESIGN.md principle 7). */
export interface AlarmContext {
  id: string;
  unit: string;
  priority: AlarmPriority;
  critical: boolean;
  latching: boolean;
  activeSince?: number;
  lastReportAt?: number;
  value?: unknown;
  message?: string;
  lastAck?: AlarmStamp;
  /** Shelve / out-of-service requests sent and not yet reported back; they supply the deadline and the reason. */
  pendingShelve?: AlarmStamp;
  pendingOutOfService?: AlarmStamp;
  shelve?: AlarmStamp;
  outOfService?: AlarmStamp;
  timers: Record<string, number>;
}

/** Params of `writeAlarmCommand`: a command the host forwards to the control system and records. */
export interface AlarmCommandParams { alarm: string; command: AlarmCommand; by: string; reason?: string; until?: number }

/** Params of `recordTransition`: one region changed state (for `evt.*` and the audit trail). */
export interface AlarmTransitionParams { alarm: string; region: string; from: string; to: string; at: number; by?: string }

/** Every code the alarm machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const ALARM_REJECTIONS = [
  'already_acknowledged',
  'already_out_of_service',
  'already_shelved',
  'by_required',
  'invalid_report',
  'invalid_shelve_expiry',
  'not_out_of_service',
  'not_shelved',
  'out_of_service',
  'reason_required',
  'shelved',
  'suppressed_by_design',
  'timer_not_due',
  'timer_stale',
  'unknown_event',
  'unknown_timer',
] as const;
export type AlarmRejection = (typeof ALARM_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface AlarmRejectParams { code: AlarmRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams. */
export interface AlarmMeta { isa18?: string; description: string }

type Args = { context: AlarmContext; event: AlarmEvent };
type Fields = { by?: unknown; reason?: unknown; until?: unknown; active?: unknown };

const fields = (event: AlarmEvent): Fields => event as Fields;
const isReport = (event: AlarmEvent): event is AlarmReport => event.type === 'REPORT' && typeof event.active === 'boolean';
const reportHas = (event: AlarmEvent, key: 'acked' | 'latched' | 'shelved' | 'suppressed' | 'outOfService', v: boolean) =>
  isReport(event) && event[key] === v;
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const stampOf = (event: AlarmEvent): AlarmStamp => {
  const f = fields(event);
  const by = text(f.by);
  const reason = text(f.reason);
  return {
    at: event.at, ...(by ? { by } : {}), ...(reason ? { reason } : {}),
    ...(typeof f.until === 'number' ? { until: f.until } : {}),
  };
};
const withoutTimer = (timers: Record<string, number>, name: string): Record<string, number> =>
  Object.fromEntries(Object.entries(timers).filter(([n]) => n !== name));

// stateIn() is typed for any guard set, check() inside setup() for none: hence the cast.
const inState = (value: Record<string, string>) => stateIn(value) as never;

const alarmSetup = setup({
  types: {} as { context: AlarmContext; events: AlarmEvent; input: AlarmInput; meta: AlarmMeta },
  guards: {
    isLatching: ({ context }) => context.latching,
    reportInvalid: ({ event }) => event.type === 'REPORT' && !isReport(event),
    activates: ({ event }) => isReport(event) && event.active,
    activatesAcked: ({ event }) => isReport(event) && event.active && event.acked === true,
    clears: ({ event }) => isReport(event) && !event.active,
    clearsAcked: ({ event }) => isReport(event) && !event.active && event.acked === true,
    acks: ({ event }) => reportHas(event, 'acked', true),
    reAlarms: ({ event }) => isReport(event) && event.active && event.acked === false,
    resets: ({ event }) => reportHas(event, 'latched', false),
    resetsAcked: ({ event }) => reportHas(event, 'latched', false) && reportHas(event, 'acked', true),
    reportsShelved: ({ event }) => reportHas(event, 'shelved', true),
    reportsUnshelved: ({ event }) => reportHas(event, 'shelved', false),
    reportsSuppressed: ({ event }) => reportHas(event, 'suppressed', true),
    reportsUnsuppressed: ({ event }) => reportHas(event, 'suppressed', false),
    reportsOutOfService: ({ event }) => reportHas(event, 'outOfService', true),
    reportsInService: ({ event }) => reportHas(event, 'outOfService', false),
    missingBy: ({ event }) => text(fields(event).by) === undefined,
    missingReason: ({ event }) => text(fields(event).reason) === undefined,
    invalidUntil: ({ event }) => {
      const until = fields(event).until;
      return typeof until !== 'number' || !Number.isFinite(until) || until <= event.at;
    },
    isShelveTimer: ({ event }) => event.type === 'TIMER' && event.name === SHELVE_TIMER,
    shelveExpired: ({ context, event }) => event.type === 'TIMER' && event.name === SHELVE_TIMER &&
      context.timers[SHELVE_TIMER] !== undefined && event.at >= context.timers[SHELVE_TIMER]!,
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: AlarmRejectParams) => {},
    writeAlarmCommand: (_: unknown, _params: AlarmCommandParams) => {},
    recordTransition: (_: unknown, _params: AlarmTransitionParams) => {},
    // Context updates.
    storeReport: assign(({ context, event }) => {
      if (!isReport(event)) return {};
      const activeSince = event.active ? (context.activeSince ?? event.at) : undefined;
      return {
        activeSince, lastReportAt: event.at,
        ...(event.value !== undefined ? { value: event.value } : {}),
        ...(event.message !== undefined ? { message: event.message } : {}),
      };
    }),
    storeAck: assign({
      lastAck: ({ event }) => ({ at: event.at, ...(isReport(event) && event.ackedBy ? { by: event.ackedBy } : {}) }),
    }),
    storePendingShelve: assign({ pendingShelve: ({ event }) => stampOf(event) }),
    startShelve: assign(({ context, event }) => {
      const shelve = context.pendingShelve ?? { at: event.at };
      const timers = shelve.until === undefined ? context.timers : { ...context.timers, [SHELVE_TIMER]: shelve.until };
      return { shelve, pendingShelve: undefined, timers };
    }),
    endShelve: assign(({ context }) => ({
      shelve: undefined, pendingShelve: undefined, timers: withoutTimer(context.timers, SHELVE_TIMER),
    })),
    storePendingOutOfService: assign({ pendingOutOfService: ({ event }) => stampOf(event) }),
    startOutOfService: assign(({ context, event }) => ({
      outOfService: context.pendingOutOfService ?? { at: event.at }, pendingOutOfService: undefined,
    })),
    endOutOfService: assign({ outOfService: undefined, pendingOutOfService: undefined }),
  },
});

const reject = (code: AlarmRejection, message: (args: Args) => string) => ({
  type: 'reject' as const,
  params: (args: Args): AlarmRejectParams => ({ code, message: message(args) }),
});

const write = (command: AlarmCommand) => ({
  type: 'writeAlarmCommand' as const,
  params: ({ context, event }: Args): AlarmCommandParams => {
    const { by, reason, until } = stampOf(event);
    return { alarm: context.id, command, by: by ?? SYSTEM_USER, ...(reason ? { reason } : {}), ...(until !== undefined ? { until } : {}) };
  },
});

const record = (region: string, from: string, to: string, byAck = false) => ({
  type: 'recordTransition' as const,
  params: ({ context, event }: Args): AlarmTransitionParams => {
    const by = byAck && isReport(event) ? event.ackedBy : undefined;
    return { alarm: context.id, region, from, to, at: event.at, ...(by ? { by } : {}) };
  },
});

const byRequired = { guard: 'missingBy', actions: reject('by_required', () => 'a request must name the user who makes it'), meta: { description: 'Request refused: no user named' } } as const;

type ProcessGuard = 'activates' | 'activatesAcked' | 'clears' | 'clearsAcked' | 'acks' | 'reAlarms' | 'resets' | 'resetsAcked';
interface ProcessRule { guard: ProcessGuard; latching?: boolean; to: AlarmProcessState; isa18?: string; description: string }

// STANDARDS.md §3.2, ordered per state so that a report carrying several changes at once (e.g. active and acked,
// mirrored from the HMI between two reports) lands in the state the control system is in. Rules without `isa18`
// are such mirrored combinations of two table rows.
const PROCESS_RULES: Record<AlarmProcessState, ProcessRule[]> = {
  Normal: [
    { guard: 'activatesAcked', to: 'Acknowledged', description: 'Reported active and already acknowledged (A→B→C)' },
    { guard: 'activates', to: 'Unacknowledged', isa18: '3.2 A→B', description: 'Alarm condition becomes true' },
  ],
  Unacknowledged: [
    { guard: 'clearsAcked', latching: true, to: 'LatchedAcknowledged', description: 'Acknowledged and returned to normal, latching (B→C→F)' },
    { guard: 'clearsAcked', to: 'Normal', description: 'Acknowledged and returned to normal (B→C→A)' },
    { guard: 'acks', to: 'Acknowledged', isa18: '3.2 B→C', description: 'Operator acknowledges' },
    { guard: 'clears', latching: true, to: 'LatchedUnacknowledged', isa18: '3.2 B→E', description: 'Returns to normal, latching alarm' },
    { guard: 'clears', to: 'ReturnedToNormalUnacknowledged', isa18: '3.2 B→D', description: 'Returns to normal, non-latching alarm' },
  ],
  Acknowledged: [
    { guard: 'clears', latching: true, to: 'LatchedAcknowledged', isa18: '3.2 C→F', description: 'Returns to normal, latching alarm' },
    { guard: 'clears', to: 'Normal', isa18: '3.2 C→A', description: 'Returns to normal, non-latching alarm' },
    { guard: 'reAlarms', to: 'Unacknowledged', isa18: '3.2 C→B', description: 'Re-alarm: reported active and unacknowledged' },
  ],
  ReturnedToNormalUnacknowledged: [
    { guard: 'activatesAcked', to: 'Acknowledged', description: 'Active again and acknowledged (D→B→C)' },
    { guard: 'activates', to: 'Unacknowledged', isa18: '3.2 D→B', description: 'Alarm condition true again' },
    { guard: 'acks', to: 'Normal', isa18: '3.2 D→A', description: 'Operator acknowledges' },
  ],
  LatchedUnacknowledged: [
    { guard: 'activatesAcked', to: 'Acknowledged', description: 'Active again and acknowledged' },
    { guard: 'activates', to: 'Unacknowledged', description: 'Alarm condition true again' },
    { guard: 'resetsAcked', to: 'Normal', description: 'Acknowledged and reset (E→F→A)' },
    { guard: 'resets', to: 'ReturnedToNormalUnacknowledged', isa18: '3.2 E→D', description: 'Operator resets the latch' },
    { guard: 'acks', to: 'LatchedAcknowledged', isa18: '3.2 E→F', description: 'Operator acknowledges' },
  ],
  LatchedAcknowledged: [
    { guard: 'activatesAcked', to: 'Acknowledged', description: 'Active again, reported acknowledged' },
    { guard: 'activates', to: 'Unacknowledged', description: 'Alarm condition true again: a new activation' },
    { guard: 'resets', to: 'Normal', isa18: '3.2 F→A', description: 'Operator resets the latch' },
  ],
};

const PROCESS_TEXT: Record<AlarmProcessState, string> = {
  Normal: 'A: process normal, alarm not active, acknowledged',
  Unacknowledged: 'B: process abnormal, alarm active, unacknowledged (audible, flashing)',
  Acknowledged: 'C: process abnormal, alarm active, acknowledged (steady)',
  ReturnedToNormalUnacknowledged: 'D: process normal, alarm not active, unacknowledged',
  LatchedUnacknowledged: 'E: process normal, latched until reset, unacknowledged',
  LatchedAcknowledged: 'F: process normal, latched until reset, acknowledged',
};

const ACKABLE: ReadonlySet<AlarmProcessState> = new Set(['Unacknowledged', 'ReturnedToNormalUnacknowledged', 'LatchedUnacknowledged']);

// STANDARDS.md §3.2: when the shelving timer expires the alarm is re-evaluated, A if the condition is false, else B
// (re-annunciated unacknowledged). Normal and Unacknowledged already are the re-evaluated state.
const SHELVE_EXPIRY: Partial<Record<AlarmProcessState, AlarmProcessState>> = {
  Acknowledged: 'Unacknowledged', ReturnedToNormalUnacknowledged: 'Normal', LatchedUnacknowledged: 'Normal', LatchedAcknowledged: 'Normal',
};

function processState(state: AlarmProcessState) {
  const REPORT = PROCESS_RULES[state].map((rule) => {
    const ack = ['acks', 'activatesAcked', 'clearsAcked', 'resetsAcked'].includes(rule.guard);
    return {
      guard: rule.latching ? and(['isLatching', rule.guard]) : rule.guard,
      target: rule.to,
      actions: ['storeReport' as const, ...(ack ? ['storeAck' as const] : []), record('alarm', state, rule.to, ack)],
      meta: { ...(rule.isa18 ? { isa18: rule.isa18 } : {}), description: rule.description },
    };
  });
  const ACK_REQUEST = ACKABLE.has(state)
    ? [byRequired, { actions: write('ack'), meta: { isa18: '3.2', description: 'Acknowledge requested: sent to the control system' } }]
    : undefined;
  const expiry = SHELVE_EXPIRY[state];
  const TIMER = expiry
    ? {
      guard: 'shelveExpired' as const, target: expiry, actions: [record('alarm', state, expiry)],
      meta: { isa18: '3.2 G→', description: expiry === 'Normal' ? 'Shelving time expired, condition false: re-evaluated to Normal' : 'Shelving time expired, condition true: re-annunciated unacknowledged' },
    }
    : undefined;
  return {
    meta: { isa18: '3.1', description: PROCESS_TEXT[state] },
    on: { REPORT, ...(ACK_REQUEST ? { ACK_REQUEST } : {}), ...(TIMER ? { TIMER } : {}) },
  };
}

/** An ISA-18.2 (2016) alarm mirrored from the control system, with orthogonal regions as OPC UA Part 9 models them (STANDARDS.md §3). */
export const alarmMachine = alarmSetup.createMachine({
  id: 'alarm',
  type: 'parallel',
  context: ({ input }) => ({
    id: input.id, unit: input.unit, priority: input.priority, critical: input.critical,
    latching: input.latching === true, timers: {},
  }),
  meta: { isa18: '3', description: 'ISA-18.2 alarm: process/acknowledgement, shelving, suppression, service' },
  states: {
    alarm: {
      initial: 'Normal',
      meta: { isa18: '3.1', description: 'Process condition and acknowledgement (A–F)' },
      states: Object.fromEntries(ALARM_PROCESS_STATES.map((s) => [s, processState(s)])) as Record<AlarmProcessState, ReturnType<typeof processState>>,
      on: {
        // Reached when no rule of the current state applies: a report that only refreshes value or message.
        REPORT: [
          {
            guard: 'reportInvalid',
            actions: reject('invalid_report', ({ event }) => `report without a boolean 'active': ${JSON.stringify(fields(event).active)}`),
            meta: { description: 'Report refused: active is not a boolean' },
          },
          { actions: 'storeReport', meta: { description: 'Report without a state change: value and message kept' } },
        ],
        ACK_REQUEST: {
          actions: reject('already_acknowledged', ({ context }) => `alarm ${context.id} is already acknowledged`),
          meta: { description: 'Acknowledge refused: nothing unacknowledged' },
        },
      },
    },
    shelving: {
      initial: 'NotShelved',
      meta: { isa18: '3.2 G', description: 'Operator shelving with an expiry deadline' },
      on: {
        TIMER: [
          {
            guard: 'isShelveTimer',
            actions: reject('timer_stale', ({ context }) => `alarm ${context.id} has no shelve deadline running`),
            meta: { description: 'Timer refused: not shelved' },
          },
          {
            actions: reject('unknown_timer', ({ event }) => `unknown timer ${JSON.stringify((event as { name?: unknown }).name)}`),
            meta: { description: 'Timer refused: unknown timer' },
          },
        ],
      },
      states: {
        NotShelved: {
          meta: { description: 'Not shelved' },
          on: {
            REPORT: {
              guard: 'reportsShelved', target: 'Shelved', actions: ['startShelve', record('shelving', 'NotShelved', 'Shelved')],
              meta: { isa18: '3.2 →G', description: 'Control system reports the alarm shelved' },
            },
            SHELVE_REQUEST: [
              byRequired,
              {
                guard: inState({ service: 'OutOfService' }),
                actions: reject('out_of_service', ({ context }) => `alarm ${context.id} is out of service; return it to service first`),
                meta: { isa18: '3.2', description: 'Shelve refused: out of service' },
              },
              {
                guard: inState({ suppression: 'SuppressedByDesign' }),
                actions: reject('suppressed_by_design', ({ context }) => `alarm ${context.id} is suppressed by design`),
                meta: { isa18: '3.2', description: 'Shelve refused: suppressed by design' },
              },
              {
                guard: 'missingReason',
                actions: reject('reason_required', () => 'shelving an alarm requires a reason'),
                meta: { description: 'Shelve refused: no reason' },
              },
              {
                guard: 'invalidUntil',
                actions: reject('invalid_shelve_expiry', ({ event }) => `shelve expiry ${JSON.stringify(fields(event).until)} must be a time after ${event.at}`),
                meta: { description: 'Shelve refused: expiry not in the future' },
              },
              {
                actions: ['storePendingShelve', write('shelve')],
                meta: { isa18: '3.2 →G', description: 'Shelve requested: sent to the control system' },
              },
            ],
            UNSHELVE_REQUEST: {
              actions: reject('not_shelved', ({ context }) => `alarm ${context.id} is not shelved`),
              meta: { description: 'Unshelve refused: not shelved' },
            },
          },
        },
        Shelved: {
          meta: { isa18: '3.1 G', description: 'G: shelved by the operator, not annunciated, until unshelved or expired' },
          on: {
            REPORT: {
              guard: 'reportsUnshelved', target: 'NotShelved', actions: ['endShelve', record('shelving', 'Shelved', 'NotShelved')],
              meta: { isa18: '3.2 G→', description: 'Control system reports the alarm unshelved' },
            },
            TIMER: [
              {
                guard: 'shelveExpired', target: 'NotShelved',
                actions: [write('unshelve'), 'endShelve', record('shelving', 'Shelved', 'NotShelved')],
                meta: { isa18: '3.2 G→', description: 'Shelving time expired: unshelved, unshelve sent' },
              },
              {
                guard: 'isShelveTimer',
                actions: reject('timer_not_due', ({ context }) => `alarm ${context.id} stays shelved until ${context.timers[SHELVE_TIMER]}`),
                meta: { description: 'Timer refused: shelve deadline not reached' },
              },
            ],
            SHELVE_REQUEST: {
              actions: reject('already_shelved', ({ context }) => `alarm ${context.id} is already shelved`),
              meta: { description: 'Shelve refused: already shelved' },
            },
            UNSHELVE_REQUEST: [
              byRequired,
              { actions: write('unshelve'), meta: { isa18: '3.2 G→', description: 'Unshelve requested: sent to the control system' } },
            ],
          },
        },
      },
    },
    suppression: {
      initial: 'NotSuppressed',
      meta: { isa18: '3.2 H', description: 'Suppression by design (logic from process or equipment state)' },
      states: {
        NotSuppressed: {
          meta: { description: 'Not suppressed by design' },
          on: {
            REPORT: {
              guard: 'reportsSuppressed', target: 'SuppressedByDesign', actions: record('suppression', 'NotSuppressed', 'SuppressedByDesign'),
              meta: { isa18: '3.2 →H', description: 'Designed suppression' },
            },
          },
        },
        SuppressedByDesign: {
          meta: { isa18: '3.1 H', description: 'H: suppressed by design, not annunciated' },
          on: {
            REPORT: {
              guard: 'reportsUnsuppressed', target: 'NotSuppressed', actions: record('suppression', 'SuppressedByDesign', 'NotSuppressed'),
              meta: { isa18: '3.2 H→', description: 'Designed unsuppression' },
            },
          },
        },
      },
    },
    service: {
      initial: 'InService',
      meta: { isa18: '3.2 I', description: 'Removal from service for maintenance' },
      states: {
        InService: {
          meta: { description: 'In service' },
          on: {
            REPORT: {
              guard: 'reportsOutOfService', target: 'OutOfService', actions: ['startOutOfService', record('service', 'InService', 'OutOfService')],
              meta: { isa18: '3.2 →I', description: 'Control system reports the alarm out of service' },
            },
            OUT_OF_SERVICE_REQUEST: [
              byRequired,
              {
                guard: inState({ shelving: 'Shelved' }),
                actions: reject('shelved', ({ context }) => `alarm ${context.id} is shelved; unshelve it first`),
                meta: { isa18: '3.2', description: 'Out of service refused: shelved' },
              },
              {
                guard: inState({ suppression: 'SuppressedByDesign' }),
                actions: reject('suppressed_by_design', ({ context }) => `alarm ${context.id} is suppressed by design`),
                meta: { isa18: '3.2', description: 'Out of service refused: suppressed by design' },
              },
              {
                guard: 'missingReason',
                actions: reject('reason_required', () => 'removing an alarm from service requires a reason'),
                meta: { description: 'Out of service refused: no reason' },
              },
              {
                actions: ['storePendingOutOfService', write('outOfService')],
                meta: { isa18: '3.2 →I', description: 'Out of service requested: sent to the control system' },
              },
            ],
            RETURN_TO_SERVICE_REQUEST: {
              actions: reject('not_out_of_service', ({ context }) => `alarm ${context.id} is in service`),
              meta: { description: 'Return to service refused: in service' },
            },
          },
        },
        OutOfService: {
          meta: { isa18: '3.1 I', description: 'I: out of service (maintenance), not annunciated' },
          on: {
            REPORT: {
              guard: 'reportsInService', target: 'InService', actions: ['endOutOfService', record('service', 'OutOfService', 'InService')],
              meta: { isa18: '3.2 I→', description: 'Control system reports the alarm returned to service' },
            },
            OUT_OF_SERVICE_REQUEST: {
              actions: reject('already_out_of_service', ({ context }) => `alarm ${context.id} is already out of service`),
              meta: { description: 'Out of service refused: already out of service' },
            },
            RETURN_TO_SERVICE_REQUEST: [
              byRequired,
              { actions: write('returnToService'), meta: { isa18: '3.2 I→', description: 'Return to service requested: sent to the control system' } },
            ],
          },
        },
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

/** The flags of one alarm as `GET /alarms` reports them (OPC UA Part 9 §5.8 two-state sub-states). */
export interface AlarmFlags { active: boolean; acked: boolean; latched: boolean; shelved: boolean; suppressed: boolean; outOfService: boolean }

const regionOf = (value: StateValue, region: string): string | undefined =>
  typeof value === 'object' && typeof value[region] === 'string' ? (value[region] as string) : undefined;

const processOf = (value: StateValue): AlarmProcessState => {
  const s = regionOf(value, 'alarm');
  return (ALARM_PROCESS_STATES as readonly string[]).includes(s ?? '') ? (s as AlarmProcessState) : 'Normal';
};

/** The flags of each orthogonal region of a snapshot value (OPC UA Part 9 §5.8). */
export function alarmFlags(value: StateValue): AlarmFlags {
  const p = processOf(value);
  return {
    active: p === 'Unacknowledged' || p === 'Acknowledged',
    acked: !ACKABLE.has(p),
    latched: p === 'LatchedUnacknowledged' || p === 'LatchedAcknowledged',
    shelved: regionOf(value, 'shelving') === 'Shelved',
    suppressed: regionOf(value, 'suppression') === 'SuppressedByDesign',
    outOfService: regionOf(value, 'service') === 'OutOfService',
  };
}

/**
 * The single ISA-18.2 (2016) state name and letter of a snapshot value; out of service takes precedence over
 * suppression by design, which takes precedence over shelving (STANDARDS.md §3.1).
 */
export function alarmStateName(value: StateValue): { letter: Isa18Letter; name: Isa18StateName } {
  const flags = alarmFlags(value);
  const letter: Isa18Letter = flags.outOfService ? 'I' : flags.suppressed ? 'H' : flags.shelved ? 'G' : PROCESS_LETTER[processOf(value)];
  return { letter, name: ISA18_STATE_NAMES[letter] };
}
