/**
 * The MES exception (deviation) requirements as data, written by hand from the user requirements (21 CFR 11.50, 11.70,
 * 11.200; Annex 11 §9, §14; CONTRACT.md `POST /exceptions/:id/sign`). The exception machine is checked against this
 * list and never derived from it.
 */
export type ExceptionStateName = 'Open' | 'Acknowledged' | 'Investigated' | 'Signed' | 'Closed';

/** Short event names; `OPEN` is the creation of the exception, the others are inputs. */
export type ExceptionEventName = 'OPEN' | 'ACKNOWLEDGE' | 'INVESTIGATE' | 'SIGN' | 'CLOSE' | 'ADDENDUM' | 'UNKNOWN';

/**
 * Named situations the tests turn into inputs: who signs, what is missing. Absent: a complete, valid input by a user
 * with every role the step needs.
 */
export type ExceptionGiven =
  | 'no_batch' | 'no_by' | 'no_at'
  | 'no_cause' | 'no_action' | 'blank_cause'
  | 'one_signature' | 'two_distinct' | 'same_user_twice' | 'second_without_role' | 'no_signatures' | 'bad_meaning'
  | 'closer_with_role' | 'closer_without_role'
  | 'empty_text';

export interface ExceptionTransition {
  from: ExceptionStateName | 'Start';
  event: ExceptionEventName;
  to: ExceptionStateName | `reject:${string}`;
  critical?: boolean;
  given?: ExceptionGiven;
  /** The effects expected, in order; rejections always emit exactly one `reject`. */
  emits?: string[];
}

export interface ExceptionRequirement { id: string; text: string; transitions: ExceptionTransition[] }

const SIGNED_STATES: ExceptionStateName[] = ['Signed', 'Closed'];
const UNSIGNED_STATES: ExceptionStateName[] = ['Open', 'Acknowledged', 'Investigated'];

export const EXCEPTION_REQUIREMENTS: ExceptionRequirement[] = [
  {
    id: 'URS-EXC-001',
    text: 'An exception opens in Open. If it belongs to a batch, the batch is told it has an open exception (it cannot be released); a critical exception with a phase tells the phase it has an unsigned critical exception.',
    transitions: [
      { from: 'Start', event: 'OPEN', to: 'Open', critical: false, emits: ['notifyBatch'] },
      { from: 'Start', event: 'OPEN', to: 'Open', critical: true, emits: ['notifyBatch', 'notifyPhase'] },
      { from: 'Start', event: 'OPEN', to: 'Open', critical: false, given: 'no_batch', emits: [] },
    ],
  },
  {
    id: 'URS-EXC-002',
    text: 'An open exception is acknowledged by a named user; it can be acknowledged only once.',
    transitions: [
      { from: 'Open', event: 'ACKNOWLEDGE', to: 'Acknowledged', emits: ['recordAcknowledge'] },
      ...(['Acknowledged', 'Investigated', 'Signed', 'Closed'] as const).map((from): ExceptionTransition =>
        ({ from, event: 'ACKNOWLEDGE', to: 'reject:already_acknowledged' })),
    ],
  },
  {
    id: 'URS-EXC-003',
    text: 'An acknowledged exception is investigated by recording its cause and the action taken; until signed they may be revised.',
    transitions: [
      { from: 'Acknowledged', event: 'INVESTIGATE', to: 'Investigated', emits: ['recordInvestigation'] },
      { from: 'Investigated', event: 'INVESTIGATE', to: 'Investigated', emits: ['recordInvestigation'] },
    ],
  },
  {
    id: 'URS-EXC-004',
    text: 'An investigation needs both a non-empty cause and a non-empty action.',
    transitions: (['Acknowledged', 'Investigated'] as const).flatMap((from) => (['no_cause', 'no_action', 'blank_cause'] as const)
      .map((given): ExceptionTransition => ({ from, event: 'INVESTIGATE', to: 'reject:cause_and_action_required', given }))),
  },
  {
    id: 'URS-EXC-005',
    text: 'An exception is acknowledged before it is investigated.',
    transitions: [{ from: 'Open', event: 'INVESTIGATE', to: 'reject:not_acknowledged' }],
  },
  {
    id: 'URS-EXC-006',
    text: 'A non-critical investigated exception is signed with one signature; the signatures are recorded.',
    transitions: [
      { from: 'Investigated', event: 'SIGN', to: 'Signed', critical: false, given: 'one_signature', emits: ['recordSignatures'] },
    ],
  },
  {
    id: 'URS-EXC-007',
    text: 'A critical exception needs two signatures by distinct users; once signed, its phase is told it no longer has an unsigned critical exception.',
    transitions: [
      { from: 'Investigated', event: 'SIGN', to: 'reject:second_signer_required', critical: true, given: 'one_signature' },
      { from: 'Investigated', event: 'SIGN', to: 'reject:second_signer_required', critical: true, given: 'same_user_twice' },
      { from: 'Investigated', event: 'SIGN', to: 'Signed', critical: true, given: 'two_distinct', emits: ['recordSignatures', 'notifyPhase'] },
    ],
  },
  {
    id: 'URS-EXC-008',
    text: 'The second signer of a critical exception holds a role permitted to give a second signature.',
    transitions: [
      { from: 'Investigated', event: 'SIGN', to: 'reject:second_signer_not_permitted', critical: true, given: 'second_without_role' },
    ],
  },
  {
    id: 'URS-EXC-009',
    text: 'Every signature shows the printed name, the date and time of signing and its meaning (performed, reviewed or approved), kept with the record (21 CFR 11.50).',
    transitions: [
      { from: 'Investigated', event: 'SIGN', to: 'reject:signature_required', given: 'no_signatures' },
      { from: 'Investigated', event: 'SIGN', to: 'reject:invalid_signature', given: 'bad_meaning' },
    ],
  },
  {
    id: 'URS-EXC-010',
    text: 'Only an investigated exception is signed, and only once.',
    transitions: [
      { from: 'Open', event: 'SIGN', to: 'reject:not_investigated' },
      { from: 'Acknowledged', event: 'SIGN', to: 'reject:not_investigated' },
      ...SIGNED_STATES.map((from): ExceptionTransition => ({ from, event: 'SIGN', to: 'reject:already_signed' })),
    ],
  },
  {
    id: 'URS-EXC-011',
    text: 'Signed content cannot change: an investigation after signing is refused (21 CFR 11.70).',
    transitions: SIGNED_STATES.map((from): ExceptionTransition =>
      ({ from, event: 'INVESTIGATE', to: 'reject:signed_content_locked' })),
  },
  {
    id: 'URS-EXC-012',
    text: 'Corrections after signing are addenda: appended with their author and time, never altering signed fields; before signing there is nothing to add to.',
    transitions: [
      ...SIGNED_STATES.map((from): ExceptionTransition => ({ from, event: 'ADDENDUM', to: from, emits: ['recordAddendum'] })),
      ...SIGNED_STATES.map((from): ExceptionTransition => ({ from, event: 'ADDENDUM', to: 'reject:addendum_text_required', given: 'empty_text' })),
      ...UNSIGNED_STATES.map((from): ExceptionTransition => ({ from, event: 'ADDENDUM', to: 'reject:not_signed' })),
    ],
  },
  {
    id: 'URS-EXC-013',
    text: 'A signed exception is closed, once; closing tells the batch the exception is no longer open.',
    transitions: [
      { from: 'Signed', event: 'CLOSE', to: 'Closed', critical: false, emits: ['recordClose', 'notifyBatch'] },
      ...UNSIGNED_STATES.map((from): ExceptionTransition => ({ from, event: 'CLOSE', to: 'reject:not_signed' })),
      { from: 'Closed', event: 'CLOSE', to: 'reject:already_closed' },
    ],
  },
  {
    id: 'URS-EXC-014',
    text: 'A critical exception is closed only by a user holding one of the close roles.',
    transitions: [
      { from: 'Signed', event: 'CLOSE', to: 'reject:forbidden_close', critical: true, given: 'closer_without_role' },
      { from: 'Signed', event: 'CLOSE', to: 'Closed', critical: true, given: 'closer_with_role', emits: ['recordClose', 'notifyBatch'] },
      { from: 'Signed', event: 'CLOSE', to: 'Closed', critical: false, given: 'closer_without_role', emits: ['recordClose', 'notifyBatch'] },
    ],
  },
  {
    id: 'URS-EXC-015',
    text: 'Every acknowledgement, investigation, close and addendum names the user who performs it and carries its time.',
    transitions: [
      { from: 'Open', event: 'ACKNOWLEDGE', to: 'reject:attribution_required', given: 'no_by' },
      { from: 'Acknowledged', event: 'INVESTIGATE', to: 'reject:attribution_required', given: 'no_by' },
      { from: 'Investigated', event: 'INVESTIGATE', to: 'reject:attribution_required', given: 'no_by' },
      { from: 'Signed', event: 'CLOSE', to: 'reject:attribution_required', given: 'no_by' },
      ...SIGNED_STATES.map((from): ExceptionTransition => ({ from, event: 'ADDENDUM', to: 'reject:attribution_required', given: 'no_by' })),
      { from: 'Open', event: 'ACKNOWLEDGE', to: 'reject:attribution_required', given: 'no_at' },
    ],
  },
  {
    id: 'URS-EXC-016',
    text: 'An unknown input is refused with a reason and changes nothing.',
    transitions: (['Open', 'Acknowledged', 'Investigated', 'Signed', 'Closed'] as const).map((from): ExceptionTransition =>
      ({ from, event: 'UNKNOWN', to: 'reject:unknown_event' })),
  },
];
