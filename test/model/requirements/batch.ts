/**
 * Batch boundary gating as requirements data, typed by hand from the batch brief (DESIGN.md principles 6, 7, 10;
 * STANDARDS.md §5.1 (f), §6.3). The batch machine is checked against this list and never derived from it.
 */
export type BatchReqState =
  | 'Created' | 'StartRequested' | 'Started' | 'Complete' | 'InReview'
  | 'Released' | 'Rejected' | 'Aborted' | 'Cancelled';

/** Short event names, as the brief writes them. */
export type BatchReqEvent =
  | 'REQUEST_START' | 'MES_APPROVAL' | 'UNIT_STATUS' | 'CONTEXT_ASSERTED' | 'RUN_SIGNAL'
  | 'COMPLETE' | 'SUBMIT_FOR_REVIEW' | 'RELEASE' | 'REJECT' | 'ABORT' | 'EXCEPTION_STATUS'
  /** Any event the batch does not know. */
  | 'UNKNOWN';

/** Facts already delivered before the event: an approval, a ready unit (allocated here, clean), context, an open exception. */
export type BatchReqGiven = 'approved' | 'unitReady' | 'context' | 'exceptionOpen';

/** How the event differs from its plain form. */
export type BatchReqVariant =
  | 'disapproved' | 'notClean' | 'otherBatch' | 'running' | 'stopped' | 'byCreator' | 'noReason' | 'badSignature' | 'closed';

export interface BatchReqTransition {
  from: BatchReqState;
  event: BatchReqEvent;
  /** Target state, or `reject:<code>` when the event is refused and the state is unchanged. */
  to: BatchReqState | `reject:${string}`;
  given?: BatchReqGiven[];
  variant?: BatchReqVariant;
  /** An effect the transition must emit. */
  effect?: string;
}

export interface BatchRequirement { id: string; text: string; transitions: BatchReqTransition[] }

const STATES: BatchReqState[] = ['Created', 'StartRequested', 'Started', 'Complete', 'InReview', 'Released', 'Rejected', 'Aborted', 'Cancelled'];

/** The state-gated commands of the brief; every one is refused (not_allowed) outside the states that accept it. */
const COMMANDS: BatchReqEvent[] = ['REQUEST_START', 'MES_APPROVAL', 'COMPLETE', 'SUBMIT_FOR_REVIEW', 'RELEASE', 'REJECT', 'ABORT'];

/** Which commands each state accepts: request in Created, approval while requested, complete or abort while started, submit when complete, release or reject in review; none in a terminal state. */
const ACCEPTS: Record<BatchReqState, BatchReqEvent[]> = {
  Created: ['REQUEST_START'], StartRequested: ['MES_APPROVAL'], Started: ['COMPLETE', 'ABORT'], Complete: ['SUBMIT_FOR_REVIEW'],
  InReview: ['RELEASE', 'REJECT'], Released: [], Rejected: [], Aborted: [], Cancelled: [],
};

export const BATCH_REQUIREMENTS: BatchRequirement[] = [
  {
    id: 'URS-BATCH-001',
    text: 'A created batch moves to StartRequested when a start is requested.',
    transitions: [{ from: 'Created', event: 'REQUEST_START', to: 'StartRequested' }],
  },
  {
    id: 'URS-BATCH-002',
    text: 'A requested batch starts as soon as MES approval, a unit allocated to it and clean, and asserted context all '
      + 'hold, whichever arrives last; the start emits batchStarted.',
    transitions: [
      { from: 'StartRequested', event: 'MES_APPROVAL', given: ['unitReady', 'context'], to: 'Started', effect: 'batchStarted' },
      { from: 'StartRequested', event: 'UNIT_STATUS', given: ['approved', 'context'], to: 'Started', effect: 'batchStarted' },
      { from: 'StartRequested', event: 'CONTEXT_ASSERTED', given: ['approved', 'unitReady'], to: 'Started', effect: 'batchStarted' },
    ],
  },
  {
    id: 'URS-BATCH-003',
    text: 'A requested batch does not start while any start condition is missing: no approval, unit not clean, unit '
      + 'allocated to another batch, or no context.',
    transitions: [
      { from: 'StartRequested', event: 'MES_APPROVAL', to: 'StartRequested' },
      { from: 'StartRequested', event: 'UNIT_STATUS', variant: 'notClean', given: ['approved', 'context'], to: 'StartRequested' },
      { from: 'StartRequested', event: 'UNIT_STATUS', variant: 'otherBatch', given: ['approved', 'context'], to: 'StartRequested' },
      { from: 'StartRequested', event: 'CONTEXT_ASSERTED', given: ['approved'], to: 'StartRequested' },
      { from: 'StartRequested', event: 'UNIT_STATUS', given: ['context'], to: 'StartRequested' },
    ],
  },
  {
    id: 'URS-BATCH-004',
    text: 'An MES rejection of the start cancels the batch before it starts.',
    transitions: [{ from: 'StartRequested', event: 'MES_APPROVAL', variant: 'disapproved', to: 'Cancelled' }],
  },
  {
    id: 'URS-BATCH-005',
    text: 'SCADA run signals never create or start a batch: a running signal in Created or StartRequested raises an '
      + 'unattributed_production exception and leaves the state unchanged; a stopped signal there, and any run signal '
      + 'once execution is over, is recorded without being attributed to the batch.',
    transitions: [
      { from: 'Created', event: 'RUN_SIGNAL', variant: 'running', to: 'Created', effect: 'raiseException' },
      { from: 'Created', event: 'RUN_SIGNAL', variant: 'stopped', to: 'Created', effect: 'recordRunSignal' },
      { from: 'StartRequested', event: 'RUN_SIGNAL', variant: 'stopped', to: 'StartRequested', effect: 'recordRunSignal' },
      { from: 'Complete', event: 'RUN_SIGNAL', variant: 'running', to: 'Complete', effect: 'recordRunSignal' },
      { from: 'StartRequested', event: 'RUN_SIGNAL', variant: 'running', to: 'StartRequested', effect: 'raiseException' },
      {
        from: 'StartRequested', event: 'RUN_SIGNAL', variant: 'running', given: ['approved', 'unitReady'],
        to: 'StartRequested', effect: 'raiseException',
      },
    ],
  },
  {
    id: 'URS-BATCH-006',
    text: 'A started batch completes on COMPLETE.',
    transitions: [{ from: 'Started', event: 'COMPLETE', to: 'Complete' }],
  },
  {
    id: 'URS-BATCH-007',
    text: 'A complete batch is submitted for review.',
    transitions: [{ from: 'Complete', event: 'SUBMIT_FOR_REVIEW', to: 'InReview' }],
  },
  {
    id: 'URS-BATCH-008',
    text: 'A batch in review is released with an e-signature of meaning "approved" when no exceptions are open and the '
      + 'releaser is not its creator.',
    transitions: [{ from: 'InReview', event: 'RELEASE', to: 'Released' }],
  },
  {
    id: 'URS-BATCH-009',
    text: 'Release is refused with exceptions_open, listing them, while any exception is open; the batch keeps the set '
      + 'of open exceptions as they are opened and closed, in any state.',
    transitions: [
      { from: 'InReview', event: 'RELEASE', given: ['exceptionOpen'], to: 'reject:exceptions_open' },
      { from: 'Started', event: 'EXCEPTION_STATUS', to: 'Started' },
      { from: 'InReview', event: 'EXCEPTION_STATUS', to: 'InReview' },
      { from: 'InReview', event: 'EXCEPTION_STATUS', variant: 'closed', given: ['exceptionOpen'], to: 'InReview' },
    ],
  },
  {
    id: 'URS-BATCH-010',
    text: 'Release is refused with same_person when the releaser created the batch.',
    transitions: [{ from: 'InReview', event: 'RELEASE', variant: 'byCreator', to: 'reject:same_person' }],
  },
  {
    id: 'URS-BATCH-011',
    text: 'A batch in review is rejected only with a reason; an abort needs one too.',
    transitions: [
      { from: 'InReview', event: 'REJECT', to: 'Rejected' },
      { from: 'InReview', event: 'REJECT', variant: 'noReason', to: 'reject:reason_required' },
      { from: 'Started', event: 'ABORT', variant: 'noReason', to: 'reject:reason_required' },
    ],
  },
  {
    id: 'URS-BATCH-012',
    text: 'A started batch can be aborted.',
    transitions: [{ from: 'Started', event: 'ABORT', to: 'Aborted' }],
  },
  {
    id: 'URS-BATCH-013',
    text: 'Commands out of sequence are refused with not_allowed and leave the state unchanged (21 CFR 11.10(f)).',
    transitions: STATES.flatMap((from) => COMMANDS.filter((c) => !ACCEPTS[from].includes(c))
      .map((event): BatchReqTransition => ({ from, event, to: 'reject:not_allowed' }))),
  },
  {
    id: 'URS-BATCH-014',
    text: 'Release is refused with invalid_signature unless the signature is the releaser\'s with meaning "approved" '
      + '(21 CFR 11.50, 11.70).',
    transitions: [{ from: 'InReview', event: 'RELEASE', variant: 'badSignature', to: 'reject:invalid_signature' }],
  },
  {
    id: 'URS-BATCH-015',
    text: 'Run signals while the batch is started corroborate it and change nothing.',
    transitions: [{ from: 'Started', event: 'RUN_SIGNAL', variant: 'running', to: 'Started', effect: 'recordRunSignal' }],
  },
  {
    id: 'URS-BATCH-016',
    text: 'Unknown events are refused with unknown_event and never throw.',
    transitions: STATES.map((from): BatchReqTransition => ({ from, event: 'UNKNOWN', to: 'reject:unknown_event' })),
  },
];

/** A path of plain events from Created to each state (with every start condition delivered after the request). */
export const BATCH_PATHS: Record<BatchReqState, BatchReqEvent[]> = {
  Created: [],
  StartRequested: ['REQUEST_START'],
  Started: ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED'],
  Complete: ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'COMPLETE'],
  InReview: ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'COMPLETE', 'SUBMIT_FOR_REVIEW'],
  Released: ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'COMPLETE', 'SUBMIT_FOR_REVIEW', 'RELEASE'],
  Rejected: ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'COMPLETE', 'SUBMIT_FOR_REVIEW', 'REJECT'],
  Aborted: ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'ABORT'],
  Cancelled: ['REQUEST_START', 'MES_APPROVAL'],
};

/** The variant of the last event of a path, where the plain event would not reach the state. */
export const BATCH_PATH_VARIANTS: Partial<Record<BatchReqState, BatchReqVariant>> = { Cancelled: 'disapproved' };

/** B2MML V0700 RequestState1Type names for each state, as the brief gives or implies them (STANDARDS.md §6.3). */
export const BATCH_B2MML_REQUEST: Record<BatchReqState, string> = {
  Created: 'Released', StartRequested: 'Ready', Started: 'Running', Complete: 'Completed', InReview: 'Completed',
  Released: 'Closed', Rejected: 'Other', Aborted: 'Aborted', Cancelled: 'Cancelled',
};
