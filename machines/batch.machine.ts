import { assign, setup } from 'xstate';

/** Version of the batch machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const BATCH_MACHINE_VERSION = 1;

/** The batch lifecycle states; the last four are terminal (no command leaves them). */
export const BATCH_STATES = [
  'Created', 'StartRequested', 'Started', 'Complete', 'InReview', 'Released', 'Rejected', 'Aborted', 'Cancelled',
] as const;

/** One batch lifecycle state. */
export type BatchState = (typeof BATCH_STATES)[number];

/** Events that only some states accept; anywhere else they are refused with `not_allowed`. */
export const BATCH_COMMANDS = [
  'REQUEST_START', 'MES_APPROVAL', 'COMPLETE', 'SUBMIT_FOR_REVIEW', 'RELEASE', 'REJECT', 'ABORT',
] as const;

/** One state-gated batch event. */
export type BatchCommand = (typeof BATCH_COMMANDS)[number];

/** An electronic signature applied at release (21 CFR 11.50: name, time, meaning). */
export interface BatchSignature { username: string; meaning: 'approved'; signedAt: number }

/** Every input the batch machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type BatchEvent =
  | { type: 'REQUEST_START'; at: number; by: string }
  | { type: 'MES_APPROVAL'; at: number; by: string; approved: boolean; reason?: string }
  | { type: 'UNIT_STATUS'; at: number; allocatedTo?: string; clean: boolean }
  | { type: 'CONTEXT_ASSERTED'; at: number; contextId: string }
  | { type: 'RUN_SIGNAL'; at: number; running: boolean; source: string }
  | { type: 'COMPLETE'; at: number; by: string }
  | { type: 'SUBMIT_FOR_REVIEW'; at: number; by: string }
  | { type: 'RELEASE'; at: number; by: string; signature: BatchSignature }
  | { type: 'REJECT'; at: number; by: string; reason: string }
  | { type: 'ABORT'; at: number; by: string; reason: string }
  | { type: 'EXCEPTION_STATUS'; at: number; exception: string; open: boolean };

/** Batch actor input: identity, unit, recipe and the config version the batch keeps (DESIGN.md principle 12). */
export interface BatchInput {
  id: string;
  unit: string;
  recipe: string;
  specVersion: string | number;
  createdAt: number;
  createdBy: string;
  configVersion: string;
}

/** Who did something and when (ALCOA: attributable, contemporaneous). */
export interface BatchStamp { at: number; by: string; reason?: string }

/** Batch machine context: the input plus the start-gate facts and the stamps of each step. */
export interface BatchContext extends BatchInput {
  startRequested?: BatchStamp;
  approval?: BatchStamp & { approved: boolean };
  unitStatus?: { at: number; allocatedTo?: string; clean: boolean };
  contextId?: string;
  startedAt?: number;
  lastRunSignal?: { at: number; running: boolean; source: string };
  openExceptions: string[];
  completed?: BatchStamp;
  submitted?: BatchStamp;
  released?: BatchStamp & { signature: BatchSignature };
  rejected?: BatchStamp;
  aborted?: BatchStamp;
}

/** Every code the batch machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const BATCH_REJECTIONS = [
  'exceptions_open',
  'invalid_signature',
  'not_allowed',
  'reason_required',
  'same_person',
  'unknown_event',
] as const;
export type BatchRejection = (typeof BATCH_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface BatchRejectParams { code: BatchRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams; `requirement` names the URS item it implements. */
export interface BatchMeta { isa88?: string; description: string; requirement?: string | readonly string[] }

/** B2MML V0700 `RequestState1Type` (STANDARDS.md §6.3). */
export type B2mmlRequestState =
  | 'Forecast' | 'Released' | 'Cancelled' | 'Ready' | 'Running' | 'Completed' | 'Aborted' | 'Held' | 'Paused' | 'Closed' | 'Other';

/** B2MML V0700 `ResponseState1Type` (STANDARDS.md §6.3). */
export type B2mmlResponseState = 'Ready' | 'Running' | 'Completed' | 'Aborted' | 'Holding' | 'Paused' | 'Other';

// Rejected has no request-state name of its own: `Other` (with OtherValue "Rejected"), so the MES never mistakes a
// rejected batch for a closed (released) one.
const B2MML: Record<BatchState, { request: B2mmlRequestState; response: B2mmlResponseState }> = {
  Created: { request: 'Released', response: 'Ready' },
  StartRequested: { request: 'Ready', response: 'Ready' },
  Started: { request: 'Running', response: 'Running' },
  Complete: { request: 'Completed', response: 'Completed' },
  InReview: { request: 'Completed', response: 'Completed' },
  Released: { request: 'Closed', response: 'Completed' },
  Rejected: { request: 'Other', response: 'Completed' },
  Aborted: { request: 'Aborted', response: 'Aborted' },
  Cancelled: { request: 'Cancelled', response: 'Other' },
};

/** The B2MML `RequestState1Type` name of a batch state, e.g. Started → Running (B2MML V0700, STANDARDS.md §6.3). */
export function b2mmlState(state: BatchState): B2mmlRequestState {
  return B2MML[state].request;
}

/** The B2MML `ResponseState1Type` name of a batch state (B2MML V0700, STANDARDS.md §6.3). */
export function b2mmlResponseState(state: BatchState): B2mmlResponseState {
  return B2MML[state].response;
}

/** Human sentences naming each unmet start condition; empty when the batch may start. */
export function startGateReasons(context: BatchContext): string[] {
  const reasons: string[] = [];
  if (context.approval?.approved !== true) reasons.push('no MES approval');
  if (context.unitStatus?.allocatedTo !== context.id) reasons.push(`unit ${context.unit} is not allocated to batch ${context.id}`);
  if (context.unitStatus?.clean !== true) reasons.push(`unit ${context.unit} is not clean`);
  if (!context.contextId) reasons.push(`no context asserted on unit ${context.unit}`);
  return reasons;
}

const withItem = (list: string[], id: string, present: boolean): string[] =>
  present ? (list.includes(id) ? list : [...list, id]) : list.filter((x) => x !== id);

const text = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

const stampOf = (event: BatchEvent): BatchStamp => ({
  at: event.at,
  by: 'by' in event ? event.by : '',
  ...('reason' in event && event.reason !== undefined ? { reason: event.reason } : {}),
});

type Args = { context: BatchContext; event: BatchEvent };

const reject = (code: BatchRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): BatchRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

/** The audit effect of a state change. */
const record = (from: BatchState, to: BatchState) => ({
  type: 'recordTransition' as const,
  params: ({ event }: Args) => ({ from, to, event: event.type, ...stampOf(event) }),
});

const batchSetup = setup({
  types: {} as { context: BatchContext; events: BatchEvent; input: BatchInput; meta: BatchMeta },
  guards: {
    startGateMet: ({ context }) => startGateReasons(context).length === 0,
    approved: ({ event }) => event.type === 'MES_APPROVAL' && event.approved === true,
    running: ({ event }) => event.type === 'RUN_SIGNAL' && event.running === true,
    reasonMissing: ({ event }) => !('reason' in event) || !text(event.reason),
    signatureInvalid: ({ event }) => event.type === 'RELEASE' && !(event.signature?.meaning === 'approved' &&
      event.signature.username === event.by && Number.isFinite(event.signature.signedAt)),
    exceptionsOpen: ({ context }) => context.openExceptions.length > 0,
    sameAsCreator: ({ context, event }) => 'by' in event && event.by === context.createdBy,
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: BatchRejectParams) => {},
    recordTransition: (_: unknown, _params: { from: BatchState; to: BatchState; event: string } & BatchStamp) => {},
    batchStarted: (_: unknown, _params: {
      batchId: string; unit: string; recipe: string; specVersion: string | number; configVersion: string;
      contextId: string; approvedBy: string; at: number;
    }) => {},
    raiseException: (_: unknown, _params: { kind: 'unattributed_production'; unit: string; at: number; source: string; batchId: string }) => {},
    recordRunSignal: (_: unknown, _params: { batchId: string; unit: string; at: number; running: boolean; source: string; attributed: boolean }) => {},
    // Context updates.
    storeStartRequest: assign({ startRequested: ({ event }) => stampOf(event) }),
    storeApproval: assign({
      approval: ({ context, event }) => (event.type === 'MES_APPROVAL' ? { ...stampOf(event), approved: event.approved === true } : context.approval),
    }),
    storeUnitStatus: assign({
      unitStatus: ({ context, event }) => (event.type !== 'UNIT_STATUS' ? context.unitStatus : {
        at: event.at, clean: event.clean === true, ...(event.allocatedTo === undefined ? {} : { allocatedTo: event.allocatedTo }),
      }),
    }),
    storeContextId: assign({ contextId: ({ context, event }) => (event.type === 'CONTEXT_ASSERTED' ? event.contextId : context.contextId) }),
    storeException: assign({
      openExceptions: ({ context, event }) => (event.type !== 'EXCEPTION_STATUS' ? context.openExceptions
        : withItem(context.openExceptions, event.exception, event.open === true)),
    }),
    storeRunSignal: assign({
      lastRunSignal: ({ context, event }) => (event.type !== 'RUN_SIGNAL' ? context.lastRunSignal
        : { at: event.at, running: event.running === true, source: event.source }),
    }),
    storeStarted: assign({ startedAt: ({ event }) => event.at }),
    storeCompleted: assign({ completed: ({ event }) => stampOf(event) }),
    storeSubmitted: assign({ submitted: ({ event }) => stampOf(event) }),
    storeReleased: assign({
      released: ({ context, event }) => (event.type === 'RELEASE' ? { ...stampOf(event), signature: event.signature } : context.released),
    }),
    storeRejected: assign({ rejected: ({ event }) => stampOf(event) }),
    storeAborted: assign({ aborted: ({ event }) => stampOf(event) }),
  },
});

const runSignal = (attributed: boolean) => ({
  type: 'recordRunSignal' as const,
  params: ({ context, event }: Args) => ({
    batchId: context.id, unit: context.unit, at: event.at, attributed,
    running: 'running' in event && event.running === true, source: 'source' in event ? event.source : '',
  }),
});

/** Before start a running unit is production nobody has attributed: raise it, never start on it. */
const runBeforeStart = (state: BatchState) => [
  {
    guard: 'running' as const,
    actions: {
      type: 'raiseException' as const,
      params: ({ context, event }: Args) => ({
        kind: 'unattributed_production' as const, unit: context.unit, at: event.at, batchId: context.id,
        source: 'source' in event ? event.source : '',
      }),
    },
    meta: { requirement: 'URS-BATCH-005', description: `Run signal in ${state}: unattributed production raised, batch not started` },
  },
  { actions: runSignal(false), meta: { requirement: 'URS-BATCH-005', description: `Stopped signal in ${state}: recorded` } },
];

const missingReason = (command: BatchCommand) => ({
  guard: 'reasonMissing' as const,
  actions: reject('reason_required', () => `${command} requires a reason`, () => ({ command })),
  meta: { requirement: 'URS-BATCH-011', description: `${command} refused: no reason given` },
});

/** A state node whose commands not listed in `on` are refused with `not_allowed` (DESIGN.md principle 6). */
function node<const T extends object>(state: BatchState, description: string, on: T = {} as T) {
  const allowed = BATCH_COMMANDS.filter((c) => c in on);
  const refusals = Object.fromEntries(BATCH_COMMANDS.filter((c) => !(c in on)).map((c) => [c, {
    actions: reject('not_allowed', () => `${c} is not allowed in state ${state}; allowed: ${allowed.join(', ') || 'none'}`,
      () => ({ command: c, state, allowed })),
    meta: { requirement: 'URS-BATCH-013', description: `${c} refused in ${state}` },
  }]));
  return { meta: { description }, on: { ...refusals, ...on } as typeof refusals & T };
}

/** Batch boundary gating: MES approval, unit and context start a batch; review and signature release it. */
export const batchMachine = batchSetup.createMachine({
  id: 'batch',
  initial: 'Created',
  context: ({ input }) => ({ ...input, openExceptions: [] }),
  meta: { description: 'Batch lifecycle: start gate, execution, review and release' },
  states: {
    Created: node('Created', 'Created by the MES; nothing runs until a start is requested', {
      REQUEST_START: {
        target: 'StartRequested', actions: ['storeStartRequest', record('Created', 'StartRequested')],
        meta: { requirement: 'URS-BATCH-001', description: 'Start requested: waits for approval, unit and context' },
      },
      RUN_SIGNAL: runBeforeStart('Created'),
    }),
    StartRequested: {
      ...node('StartRequested', 'Waits for MES approval, unit allocated and clean, context asserted', {
        MES_APPROVAL: [
          {
            guard: 'approved', actions: 'storeApproval',
            meta: { requirement: ['URS-BATCH-002', 'URS-BATCH-003'], description: 'MES approves the start' },
          },
          {
            target: 'Cancelled', actions: ['storeApproval', record('StartRequested', 'Cancelled')],
            meta: { requirement: 'URS-BATCH-004', description: 'MES rejects the start: batch cancelled before start' },
          },
        ],
        RUN_SIGNAL: runBeforeStart('StartRequested'),
      }),
      // Evaluated after every event in this state, so the gate opens on whichever condition arrives last.
      always: {
        guard: 'startGateMet', target: 'Started',
        actions: [
          'storeStarted',
          {
            type: 'batchStarted',
            params: ({ context, event }) => ({
              batchId: context.id, unit: context.unit, recipe: context.recipe, specVersion: context.specVersion,
              configVersion: context.configVersion, contextId: context.contextId ?? '',
              approvedBy: context.approval?.by ?? '', at: event.at,
            }),
          },
          record('StartRequested', 'Started'),
        ],
        meta: { requirement: 'URS-BATCH-002', description: 'All start conditions hold: batch started' },
      },
    },
    Started: node('Started', 'Executing on the unit; run signals corroborate', {
      COMPLETE: {
        target: 'Complete', actions: ['storeCompleted', record('Started', 'Complete')],
        meta: { requirement: 'URS-BATCH-006', description: 'Execution complete' },
      },
      ABORT: [missingReason('ABORT'), {
        target: 'Aborted', actions: ['storeAborted', record('Started', 'Aborted')],
        meta: { requirement: 'URS-BATCH-012', description: 'Batch aborted' },
      }],
      RUN_SIGNAL: {
        actions: ['storeRunSignal', runSignal(true)],
        meta: { requirement: 'URS-BATCH-015', description: 'Run signal corroborates the started batch' },
      },
    }),
    Complete: node('Complete', 'Execution finished; record not yet submitted', {
      SUBMIT_FOR_REVIEW: {
        target: 'InReview', actions: ['storeSubmitted', record('Complete', 'InReview')],
        meta: { requirement: 'URS-BATCH-007', description: 'Record submitted for QA review' },
      },
    }),
    InReview: node('InReview', 'QA reviews the record by exception', {
      RELEASE: [
        {
          guard: 'signatureInvalid',
          actions: reject('invalid_signature', () => 'release needs a signature by the releaser with meaning "approved"'),
          meta: { requirement: 'URS-BATCH-014', description: 'Release refused: signature missing or not the releaser\'s' },
        },
        {
          guard: 'exceptionsOpen',
          actions: reject('exceptions_open', ({ context }) => `open exceptions: ${context.openExceptions.join(', ')}`,
            ({ context }) => ({ exceptions: [...context.openExceptions] })),
          meta: { requirement: 'URS-BATCH-009', description: 'Release refused: exceptions open' },
        },
        {
          guard: 'sameAsCreator',
          actions: reject('same_person', ({ context }) => `${context.createdBy} created the batch and cannot release it`),
          meta: { requirement: 'URS-BATCH-010', description: 'Release refused: releaser created the batch' },
        },
        {
          target: 'Released', actions: ['storeReleased', record('InReview', 'Released')],
          meta: { requirement: 'URS-BATCH-008', description: 'Batch released with an e-signature' },
        },
      ],
      REJECT: [missingReason('REJECT'), {
        target: 'Rejected', actions: ['storeRejected', record('InReview', 'Rejected')],
        meta: { requirement: 'URS-BATCH-011', description: 'Batch rejected with a reason' },
      }],
    }),
    Released: node('Released', 'Terminal: released by QA'),
    Rejected: node('Rejected', 'Terminal: rejected by QA'),
    Aborted: node('Aborted', 'Terminal: aborted during execution'),
    Cancelled: node('Cancelled', 'Terminal: MES rejected the start; never ran'),
  },
  on: {
    UNIT_STATUS: { actions: 'storeUnitStatus', meta: { requirement: ['URS-BATCH-003', 'URS-BATCH-002'], description: 'Unit allocation and cleanliness recorded' } },
    CONTEXT_ASSERTED: { actions: 'storeContextId', meta: { requirement: ['URS-BATCH-003', 'URS-BATCH-002'], description: 'Context asserted on the unit recorded' } },
    EXCEPTION_STATUS: { actions: 'storeException', meta: { requirement: 'URS-BATCH-009', description: 'Exception opened or closed' } },
    // Reached after start: production on the unit is no longer this batch's; the unit actor attributes it.
    RUN_SIGNAL: { actions: runSignal(false), meta: { requirement: 'URS-BATCH-005', description: 'Run signal recorded, not attributed' } },
    '*': {
      actions: reject('unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`),
      meta: { requirement: 'URS-BATCH-016', description: 'Unknown event: refused' },
    },
  },
});
