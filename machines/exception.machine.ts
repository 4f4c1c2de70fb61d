import { assign, enqueueActions, setup } from 'xstate';

/** Version of the exception machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const EXCEPTION_MACHINE_VERSION = 1;

/** The life cycle of an MES exception (deviation), from opening to closure. */
export const EXCEPTION_STATES = ['Open', 'Acknowledged', 'Investigated', 'Signed', 'Closed'] as const;

/** One exception state name. */
export type ExceptionState = (typeof EXCEPTION_STATES)[number];

/** What raised the exception; plants may add their own kinds. */
export type ExceptionKind = 'alarm' | 'unattributed_production' | 'late_data' | 'manual' | (string & {});

/** The meanings a signature may carry (21 CFR 11.50(a)(3)). */
export const SIGNATURE_MEANINGS = ['performed', 'reviewed', 'approved'] as const;

/** One signature meaning (21 CFR 11.50(a)(3)). */
export type SignatureMeaning = (typeof SIGNATURE_MEANINGS)[number];

/** A signature as the shell hands it over after verifying the signer's credentials (21 CFR 11.200). */
export interface SignatureInput {
  username: string;
  /** Full printed name; the username is printed when absent (21 CFR 11.50(a)(1)). */
  name?: string;
  meaning: SignatureMeaning;
  signedAt: number;
  roles: string[];
}

/** The signature manifestation kept with the record: printed name, date and time, meaning (21 CFR 11.50). */
export interface SignatureManifestation {
  username: string;
  printedName: string;
  meaning: SignatureMeaning;
  signedAt: number;
  roles: string[];
}

/** Exception actor input; `openedAt` is the time of opening, since a machine has no clock (DESIGN.md principle 7). */
export interface ExceptionInput {
  id: string;
  kind: ExceptionKind;
  critical: boolean;
  source: string;
  batchId?: string;
  phase?: string;
  openedAt: number;
  openedBy: string;
  description: string;
  /** Roles allowed to give the second signature of a critical exception (CONTRACT.md permissions). */
  secondSignerRoles: string[];
  /** Roles allowed to close a critical exception (CONTRACT.md permissions). */
  closeRoles: string[];
}

/** Who did something and when (ALCOA: attributable, contemporaneous). */
export interface Attribution { at: number; by: string }

/** The investigation result: what caused the exception and what was done (Annex 11 §9). */
export interface Investigation extends Attribution { cause: string; action: string }

/** A correction or note added after signing; signed content is never edited (DESIGN.md principle 8). */
export interface Addendum extends Attribution { text: string }

/** Exception machine context. */
export interface ExceptionContext extends Omit<ExceptionInput, 'secondSignerRoles' | 'closeRoles'> {
  secondSignerRoles: string[];
  closeRoles: string[];
  acknowledged?: Attribution;
  investigation?: Investigation;
  signatures: SignatureManifestation[];
  signedAt?: number;
  closed?: Attribution;
  addenda: Addendum[];
}

/** Every input the exception machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type ExceptionEvent =
  | (Attribution & { type: 'ACKNOWLEDGE' })
  | (Attribution & { type: 'INVESTIGATE'; cause: string; action: string })
  | { type: 'SIGN'; at: number; signatures: SignatureInput[] }
  | (Attribution & { type: 'CLOSE'; roles?: string[] })
  | (Attribution & { type: 'ADDENDUM'; text: string });

/** Every code the exception machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const EXCEPTION_REJECTIONS = [
  'addendum_text_required',
  'already_acknowledged',
  'already_closed',
  'already_signed',
  'attribution_required',
  'cause_and_action_required',
  'forbidden_close',
  'invalid_signature',
  'not_acknowledged',
  'not_investigated',
  'not_signed',
  'second_signer_not_permitted',
  'second_signer_required',
  'signature_required',
  'signed_content_locked',
  'unknown_event',
] as const;
export type ExceptionRejection = (typeof EXCEPTION_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface ExceptionRejectParams { code: ExceptionRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams; `requirement` names the URS item it implements. */
export interface ExceptionMeta {
  part11?: string; annex11?: string; description: string;
  /** The URS id(s) in test/model/requirements/exception.ts this state or transition implements. */
  requirement?: string | string[];
}

type Args = { context: ExceptionContext; event: ExceptionEvent };

const filled = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

const timed = (at: unknown): at is number => typeof at === 'number' && Number.isFinite(at);

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

const validSignature = (s: unknown): s is SignatureInput => {
  if (typeof s !== 'object' || s === null) return false;
  const sig = s as Partial<SignatureInput>;
  return filled(sig.username) && (SIGNATURE_MEANINGS as readonly unknown[]).includes(sig.meaning) &&
    timed(sig.signedAt) && isStringList(sig.roles) &&
    (sig.name === undefined || filled(sig.name));
};

const signaturesOf = (event: ExceptionEvent): unknown[] =>
  event.type === 'SIGN' && Array.isArray(event.signatures) ? event.signatures : [];

const manifest = (s: SignatureInput): SignatureManifestation => ({
  username: s.username, printedName: s.name ?? s.username, meaning: s.meaning, signedAt: s.signedAt, roles: [...s.roles],
});

const holdsOne = (roles: unknown, allowed: string[]): boolean => isStringList(roles) && roles.some((r) => allowed.includes(r));

const reject = (code: ExceptionRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): ExceptionRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

/** A refusal that leaves the state unchanged, with the requirement it implements. */
const refuse = (requirement: string, code: ExceptionRejection, message: (args: Args) => string, description: string,
  details?: (args: Args) => Record<string, unknown>) => ({
  actions: reject(code, message, details),
  meta: { requirement, description } satisfies ExceptionMeta,
});

const exceptionSetup = setup({
  types: {} as { context: ExceptionContext; events: ExceptionEvent; input: ExceptionInput; meta: ExceptionMeta },
  guards: {
    unattributed: ({ event }) => !('by' in event && filled(event.by) && timed(event.at)),
    causeOrActionMissing: ({ event }) => event.type === 'INVESTIGATE' && !(filled(event.cause) && filled(event.action)),
    noSignatures: ({ event }) => signaturesOf(event).length === 0,
    signatureInvalid: ({ event }) => !(timed(event.at) && signaturesOf(event).every(validSignature)),
    secondSignerMissing: ({ context, event }) => {
      const [first, second] = signaturesOf(event) as SignatureInput[];
      return context.critical && (first === undefined || second === undefined || first.username === second.username);
    },
    secondSignerNotPermitted: ({ context, event }) =>
      context.critical && !holdsOne((signaturesOf(event)[1] as SignatureInput | undefined)?.roles, context.secondSignerRoles),
    closeForbidden: ({ context, event }) =>
      context.critical && !(event.type === 'CLOSE' && holdsOne(event.roles, context.closeRoles)),
    addendumEmpty: ({ event }) => event.type === 'ADDENDUM' && !filled(event.text),
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: ExceptionRejectParams) => {},
    recordAcknowledge: (_: unknown, _params: { exception: string; at: number; by: string }) => {},
    recordInvestigation: (_: unknown, _params: { exception: string; at: number; by: string; cause: string; action: string; previous?: Investigation }) => {},
    recordSignatures: (_: unknown, _params: {
      exception: string; at: number; signatures: SignatureManifestation[];
      content: { id: string; kind: ExceptionKind; critical: boolean; description: string; cause: string; action: string };
    }) => {},
    recordClose: (_: unknown, _params: { exception: string; at: number; by: string; critical: boolean }) => {},
    recordAddendum: (_: unknown, _params: { exception: string; at: number; by: string; text: string; index: number }) => {},
    notifyBatch: (_: unknown, _params: { batchId: string; exception: string; open: boolean; critical: boolean; at: number }) => {},
    notifyPhase: (_: unknown, _params: { phase: string; exception: string; unsigned: boolean; at: number }) => {},
    // Context updates.
    storeAcknowledge: assign({ acknowledged: ({ event }) => ({ at: event.at, by: 'by' in event ? event.by : '' }) }),
    storeInvestigation: assign({
      investigation: ({ context, event }) => (event.type !== 'INVESTIGATE' ? context.investigation
        : { at: event.at, by: event.by, cause: event.cause, action: event.action }),
    }),
    storeSignatures: assign(({ event }) => ({
      signatures: (signaturesOf(event) as SignatureInput[]).map(manifest), signedAt: event.at,
    })),
    storeClose: assign({ closed: ({ event }) => ({ at: event.at, by: 'by' in event ? event.by : '' }) }),
    storeAddendum: assign({
      addenda: ({ context, event }) => (event.type !== 'ADDENDUM' ? context.addenda
        : [...context.addenda, { at: event.at, by: event.by, text: event.text }]),
    }),
    // Notifications that depend on optional context: params functions cannot leave an action out, enqueue can.
    announceOpen: enqueueActions(({ context, enqueue }) => {
      const { id, batchId, phase, critical, openedAt: at } = context;
      if (batchId) enqueue({ type: 'notifyBatch', params: { batchId, exception: id, open: true, critical, at } });
      if (critical && phase) enqueue({ type: 'notifyPhase', params: { phase, exception: id, unsigned: true, at } });
    }),
    announceSigned: enqueueActions(({ context, event, enqueue }) => {
      if (context.critical && context.phase) {
        enqueue({ type: 'notifyPhase', params: { phase: context.phase, exception: context.id, unsigned: false, at: event.at } });
      }
    }),
    announceClosed: enqueueActions(({ context, event, enqueue }) => {
      const { id, batchId, critical } = context;
      if (batchId) enqueue({ type: 'notifyBatch', params: { batchId, exception: id, open: false, critical, at: event.at } });
    }),
  },
});

const byOf = (event: ExceptionEvent): string => ('by' in event ? event.by : '');

const unattributed = refuse('URS-EXC-015', 'attribution_required',
  ({ event }) => `${event.type} must name the user who performs it and when (at)`,
  'Refused: no user or time given (ALCOA attributable, contemporaneous)');

const locked = refuse('URS-EXC-011', 'signed_content_locked',
  ({ context }) => `exception ${context.id} is signed: its cause and action cannot change; add an addendum instead`,
  'Investigation refused: signed content cannot change');

const notSigned = (event: string) => refuse(event === 'CLOSE' ? 'URS-EXC-013' : 'URS-EXC-012', 'not_signed',
  ({ context }) => `exception ${context.id} is not signed yet`, `${event} refused: not signed yet`);

const alreadySigned = refuse('URS-EXC-010', 'already_signed',
  ({ context }) => `exception ${context.id} is already signed`, 'Signing refused: already signed');

const notInvestigated = refuse('URS-EXC-010', 'not_investigated',
  ({ context }) => `exception ${context.id} needs a cause and action before it is signed`, 'Signing refused: not investigated');

const investigate = (requirement: string, from: ExceptionState) => [
  { guard: 'unattributed' as const, ...unattributed },
  {
    guard: 'causeOrActionMissing' as const,
    ...refuse('URS-EXC-004', 'cause_and_action_required', () => 'both cause and action must be given',
      'Investigation refused: cause or action missing'),
  },
  {
    target: 'Investigated' as const,
    actions: [
      {
        type: 'recordInvestigation' as const,
        params: ({ context, event }: Args) => ({
          exception: context.id, at: event.at, by: byOf(event),
          cause: event.type === 'INVESTIGATE' ? event.cause : '', action: event.type === 'INVESTIGATE' ? event.action : '',
          ...(context.investigation ? { previous: context.investigation } : {}),
        }),
      },
      'storeInvestigation' as const,
    ],
    meta: { requirement, annex11: '9', description: `Cause and action recorded: ${from} → Investigated` },
  },
];

const addendum = (state: ExceptionState) => [
  { guard: 'unattributed' as const, ...unattributed },
  {
    guard: 'addendumEmpty' as const,
    ...refuse('URS-EXC-012', 'addendum_text_required', () => 'an addendum needs its text', 'Addendum refused: no text'),
  },
  {
    actions: [
      {
        type: 'recordAddendum' as const,
        params: ({ context, event }: Args) => ({
          exception: context.id, at: event.at, by: byOf(event),
          text: event.type === 'ADDENDUM' ? event.text : '', index: context.addenda.length,
        }),
      },
      'storeAddendum' as const,
    ],
    meta: { requirement: 'URS-EXC-012', annex11: '9', description: `Addendum appended in ${state}; signed content unchanged` },
  },
];

/** An MES exception (deviation) that must be acknowledged, investigated, signed and closed (21 CFR 11.50, 11.70; Annex 11 §9, §14). */
export const exceptionMachine = exceptionSetup.createMachine({
  id: 'exception',
  initial: 'Open',
  context: ({ input }) => ({
    id: input.id, kind: input.kind, critical: input.critical === true, source: input.source,
    ...(input.batchId === undefined ? {} : { batchId: input.batchId }),
    ...(input.phase === undefined ? {} : { phase: input.phase }),
    openedAt: input.openedAt, openedBy: input.openedBy, description: input.description,
    secondSignerRoles: [...(input.secondSignerRoles ?? [])], closeRoles: [...(input.closeRoles ?? [])],
    signatures: [], addenda: [],
  }),
  meta: { part11: '11.50', description: 'MES exception (deviation): acknowledge, investigate, sign, close' },
  states: {
    Open: {
      entry: 'announceOpen',
      meta: { requirement: 'URS-EXC-001', description: 'Raised: the batch cannot be released while it is open' },
      on: {
        ACKNOWLEDGE: [
          { guard: 'unattributed', ...unattributed },
          {
            target: 'Acknowledged',
            actions: [
              { type: 'recordAcknowledge', params: ({ context, event }) => ({ exception: context.id, at: event.at, by: byOf(event) }) },
              'storeAcknowledge',
            ],
            meta: { requirement: 'URS-EXC-002', description: 'Acknowledged by a named user' },
          },
        ],
        INVESTIGATE: refuse('URS-EXC-005', 'not_acknowledged',
          ({ context }) => `exception ${context.id} must be acknowledged before it is investigated`,
          'Investigation refused: not acknowledged'),
        SIGN: notInvestigated,
        CLOSE: notSigned('CLOSE'),
        ADDENDUM: notSigned('ADDENDUM'),
      },
    },
    Acknowledged: {
      meta: { requirement: 'URS-EXC-002', description: 'Acknowledged: someone is looking into it' },
      on: {
        INVESTIGATE: investigate('URS-EXC-003', 'Acknowledged'),
        SIGN: notInvestigated,
        CLOSE: notSigned('CLOSE'),
        ADDENDUM: notSigned('ADDENDUM'),
      },
    },
    Investigated: {
      meta: { requirement: 'URS-EXC-003', annex11: '9', description: 'Cause and action recorded; may be revised until signed' },
      on: {
        INVESTIGATE: investigate('URS-EXC-003', 'Investigated'),
        SIGN: [
          {
            guard: 'noSignatures',
            ...refuse('URS-EXC-009', 'signature_required', () => 'at least one signature is required', 'Signing refused: no signature'),
          },
          {
            guard: 'signatureInvalid',
            ...refuse('URS-EXC-009', 'invalid_signature',
              () => 'every signature needs a username, a meaning (performed, reviewed, approved), a signing time and roles; the input needs at',
              'Signing refused: incomplete signature manifestation'),
          },
          {
            guard: 'secondSignerMissing',
            ...refuse('URS-EXC-007', 'second_signer_required',
              ({ context }) => `critical exception ${context.id} needs a second signature by a different user`,
              'Signing refused: critical exception without a distinct second signer'),
          },
          {
            guard: 'secondSignerNotPermitted',
            ...refuse('URS-EXC-008', 'second_signer_not_permitted',
              ({ context }) => `the second signer must hold one of the roles ${context.secondSignerRoles.join(', ') || '(none configured)'}`,
              'Signing refused: second signer lacks a permitted role',
              ({ context }) => ({ secondSignerRoles: context.secondSignerRoles })),
          },
          {
            target: 'Signed',
            actions: [
              'storeSignatures',
              {
                type: 'recordSignatures',
                params: ({ context, event }) => ({
                  exception: context.id, at: event.at, signatures: context.signatures,
                  content: {
                    id: context.id, kind: context.kind, critical: context.critical, description: context.description,
                    cause: context.investigation?.cause ?? '', action: context.investigation?.action ?? '',
                  },
                }),
              },
              'announceSigned',
            ],
            meta: { requirement: ['URS-EXC-006', 'URS-EXC-007'], part11: '11.50', description: 'Signed: manifestation kept with the record' },
          },
        ],
        CLOSE: notSigned('CLOSE'),
        ADDENDUM: notSigned('ADDENDUM'),
      },
    },
    Signed: {
      meta: { requirement: 'URS-EXC-006', part11: '11.70', description: 'Signed: content locked, addenda only' },
      on: {
        INVESTIGATE: locked,
        SIGN: alreadySigned,
        CLOSE: [
          { guard: 'unattributed', ...unattributed },
          {
            guard: 'closeForbidden',
            ...refuse('URS-EXC-014', 'forbidden_close',
              ({ context }) => `critical exception ${context.id} may be closed only by a user with one of the roles ${context.closeRoles.join(', ') || '(none configured)'}`,
              'Close refused: critical exception, user lacks a close role',
              ({ context }) => ({ closeRoles: context.closeRoles })),
          },
          {
            target: 'Closed',
            actions: [
              { type: 'recordClose', params: ({ context, event }) => ({ exception: context.id, at: event.at, by: byOf(event), critical: context.critical }) },
              'storeClose',
              'announceClosed',
            ],
            meta: { requirement: ['URS-EXC-013', 'URS-EXC-014'], description: 'Closed: the batch may be released as far as this exception goes' },
          },
        ],
        ADDENDUM: addendum('Signed'),
      },
    },
    Closed: {
      meta: { requirement: 'URS-EXC-013', part11: '11.70', description: 'Closed: signed content locked, addenda only' },
      on: {
        INVESTIGATE: locked,
        SIGN: alreadySigned,
        CLOSE: refuse('URS-EXC-013', 'already_closed', ({ context }) => `exception ${context.id} is already closed`,
          'Close refused: already closed'),
        ADDENDUM: addendum('Closed'),
      },
    },
  },
  on: {
    // Reached from every state but Open, which handles ACKNOWLEDGE itself.
    ACKNOWLEDGE: refuse('URS-EXC-002', 'already_acknowledged',
      ({ context }) => `exception ${context.id} is already acknowledged`, 'Acknowledge refused: already acknowledged'),
    '*': refuse('URS-EXC-016', 'unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`,
      'Unknown event: refused'),
  },
});
