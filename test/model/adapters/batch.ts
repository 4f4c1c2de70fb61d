import type { AnyMachineSnapshot } from 'xstate';
import { batchKind } from '../../../actors/batch.actor.ts';
import { BATCH_MACHINE_VERSION, batchMachine, type BatchContext, type BatchEvent, type BatchInput } from '../../../machines/batch.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, type Row } from '../harness/rows.ts';
import {
  BATCH_REQUIREMENTS, type BatchReqEvent, type BatchReqGiven, type BatchReqState, type BatchReqTransition, type BatchReqVariant,
} from '../requirements/batch.ts';

/**
 * The batch id: fixed rather than the actor id, because UNIT_STATUS names the batch the unit is allocated to and an
 * input cannot differ between the pure exploration and the host, which runs each path under its own actor id.
 */
export const BATCH_ID = 'B1';

/** Batch B1 of recipe API-7 on R201, created by the planner (who therefore may not release it). */
export const batchInput = (): BatchInput => ({
  id: BATCH_ID, unit: 'R201', recipe: 'API-7', specVersion: 3, createdAt: MODEL_T0, createdBy: 'planner', configVersion: 'cfg-1',
});

/** The input a requirement row names (short event name and variant), at time `at`. */
export function batchEvent(name: BatchReqEvent, variant: BatchReqVariant | undefined, at: number): BatchEvent {
  switch (name) {
    case 'REQUEST_START': return { type: name, at, by: 'op1' };
    case 'MES_APPROVAL': return variant === 'disapproved'
      ? { type: name, at, by: 'mes', approved: false, reason: 'material not released' }
      : { type: name, at, by: 'mes', approved: true };
    case 'UNIT_STATUS': return { type: name, at, allocatedTo: variant === 'otherBatch' ? 'B9' : BATCH_ID, clean: variant !== 'notClean' };
    case 'CONTEXT_ASSERTED': return { type: name, at, contextId: 'ctx-1' };
    case 'RUN_SIGNAL': return { type: name, at, running: variant !== 'stopped', source: 'sim' };
    case 'COMPLETE':
    case 'SUBMIT_FOR_REVIEW': return { type: name, at, by: 'op1' };
    case 'RELEASE': {
      const by = variant === 'byCreator' ? 'planner' : 'qa1';
      const signature = { username: by, meaning: 'approved' as const, signedAt: at };
      return variant === 'badSignature'
        ? { type: name, at, by, signature: { ...signature, meaning: 'reviewed' } as never }
        : { type: name, at, by, signature };
    }
    case 'REJECT': return { type: name, at, by: 'qa1', reason: variant === 'noReason' ? '' : 'out of specification' };
    case 'ABORT': return { type: name, at, by: 'op1', reason: variant === 'noReason' ? ' ' : 'agitator failure' };
    case 'EXCEPTION_STATUS': return { type: name, at, exception: 'EX-1', open: variant !== 'closed' };
    case 'UNKNOWN': return { type: 'NOT_A_BATCH_EVENT', at } as unknown as BatchEvent;
  }
}

/** The facts a batch snapshot holds, as the requirement data names them (computed here, not by the machine's gate). */
export function batchFacts(c: BatchContext): Set<BatchReqGiven> {
  const facts = new Set<BatchReqGiven>();
  if (c.approval?.approved === true) facts.add('approved');
  if (c.unitStatus?.allocatedTo === c.id && c.unitStatus.clean === true) facts.add('unitReady');
  if (c.contextId) facts.add('context');
  if (c.openExceptions.length > 0) facts.add('exceptionOpen');
  return facts;
}

/**
 * The facts a row's silence about means "does not hold": the start conditions while a start is requested, open
 * exceptions in review. Elsewhere the rows do not depend on them.
 */
const RELEVANT: Partial<Record<BatchReqState, BatchReqGiven[]>> = {
  StartRequested: ['approved', 'unitReady', 'context'],
  InReview: ['exceptionOpen'],
};

/** The harness's one situation string for a row's variant and facts, e.g. `notClean [approved, context]`. */
const situation = (t: Pick<BatchReqTransition, 'variant' | 'given'>): string | undefined =>
  [t.variant, t.given?.length ? `[${t.given.join(', ')}]` : undefined].filter(Boolean).join(' ') || undefined;

const parse = (given: string | undefined): { variant?: BatchReqVariant; facts: BatchReqGiven[] } => {
  const m = /^(\w+)?\s*(?:\[(.*)\])?$/.exec(given ?? '')!;
  return { ...(m[1] ? { variant: m[1] as BatchReqVariant } : {}), facts: m[2] ? (m[2].split(', ') as BatchReqGiven[]) : [] };
};

const rows: Row[] = BATCH_REQUIREMENTS.flatMap((r) => r.transitions.map((t): Row => {
  const given = situation(t);
  return { requirement: r.id, from: t.from, event: t.event, to: t.to, ...(given ? { given } : {}) };
}));

const AT = MODEL_T0 + 1_000;

/** The row's input when its facts are exactly the snapshot's (among those that matter in the state); else none. */
function build(c: BatchContext, state: BatchReqState, event: string, given: string | undefined): BatchEvent | undefined {
  const { variant, facts } = parse(given);
  const holds = batchFacts(c);
  if (!facts.every((f) => holds.has(f))) return undefined;
  if ((RELEVANT[state] ?? []).some((f) => holds.has(f) && !facts.includes(f))) return undefined;
  return batchEvent(event as BatchReqEvent, variant, AT);
}

/** The batch machine under the model-based tests, with test/model/requirements/batch.ts as the oracle. */
export const batchAdapter: ModelAdapter = {
  name: 'batch',
  machine: batchMachine,
  version: BATCH_MACHINE_VERSION,
  variants: [{ name: 'batch', input: () => batchInput() }],
  kind: (actors) => batchKind(actors as ReadonlyMap<string, BatchInput>),
  events: (s: AnyMachineSnapshot) => {
    const state = String(s.value) as BatchReqState;
    return rowCandidates(rows, state, 'batch', (event, given) => build(s.context as BatchContext, state, event, given) as never);
  },
  // The state and the facts the rows tell apart; not times, stamps or which unit status made the unit not ready.
  serialize: (s) => JSON.stringify([s.value, ...['approved', 'unitReady', 'context', 'exceptionOpen'].map((f) => batchFacts(s.context as BatchContext).has(f as BatchReqGiven))]),
  stateOf: (s) => String(s.value),
  oracle: rowOracle(rows),
  requirements: BATCH_REQUIREMENTS.map((r) => ({ id: r.id, text: r.text, source: 'test/model/requirements/batch.ts' })),
};
