import type { AnyMachineSnapshot } from 'xstate';
import { contextHandshakeKind } from '../../../actors/context-handshake.actor.ts';
import type { ActorEvent } from '../../../actors/envelope.ts';
import {
  ACK_DEADLINE_TIMER, CONTEXT_HANDSHAKE_MACHINE_VERSION, contextHandshakeMachine,
  type ContextHandshakeContext, type ContextHandshakeInput,
} from '../../../machines/context-handshake.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, rowsOf } from '../harness/rows.ts';
import {
  CONTEXT_HANDSHAKE_REQUIREMENTS, type ContextHandshakeEventName, type ContextHandshakeGiven,
} from '../requirements/context-handshake.ts';

/** Unit R201's handshake, acknowledged by its edge source `line2` (CONTRACT.md §3 demo plant). */
export const contextHandshakeInput = (id: string): ContextHandshakeInput => ({ unit: id, ackTimeoutMs: 30_000, sources: ['line2'] });

const AT = MODEL_T0 + 1_000;

/**
 * The input a requirement row names (event and situation) in a snapshot; undefined when the snapshot cannot build the
 * situation (e.g. a stale sequence before any was accepted, a due deadline when none runs). Context ids are given by
 * the caller, as the HTTP route does, and do not embed the actor id (the host runs each path under its own id).
 */
export function contextHandshakeEvent(c: ContextHandshakeContext, event: ContextHandshakeEventName, given: ContextHandshakeGiven | undefined): ActorEvent | undefined {
  const bound = c.context?.batchId ?? 'B1';
  const assert = (seq: number, batchId = bound) =>
    ({ type: 'ASSERT_CONTEXT', at: AT, by: 'mes', seq, batchId, specVersion: 'MR-7', operation: 'HEAT', contextId: `ctx-${seq}` });
  switch (event) {
    case 'ASSERT_CONTEXT': switch (given) {
      case 'gap': return assert(c.lastSeq + 3);
      case 'stale': return c.lastSeq >= 1 ? assert(c.lastSeq) : undefined;
      case 'bad_seq': return assert(0);
      case 'no_batch': return assert(c.lastSeq + 1, '');
      case 'other_batch': return assert(c.lastSeq + 1, 'B2');
      default: return assert(c.lastSeq + 1);
    }
    case 'EDGE_ACK': return {
      type: 'EDGE_ACK', at: AT, by: 'edge:line2', source: given === 'unknown_source' ? 'rogue' : 'line2',
      contextId: given === 'old_context' ? 'ctx-0' : c.context?.contextId ?? c.released?.contextId ?? 'ctx-none',
    };
    case 'RELEASE': return { type: 'RELEASE', at: AT, by: 'mes', batchId: given === 'wrong_batch' ? 'B9' : bound };
    case 'TIMER': switch (given) {
      case 'due': return c.ackDueAt === undefined ? undefined : { type: 'TIMER', at: c.ackDueAt, name: ACK_DEADLINE_TIMER };
      case 'not_due': return c.ackDueAt === undefined ? undefined : { type: 'TIMER', at: c.ackDueAt - 1, name: ACK_DEADLINE_TIMER };
      case 'no_deadline': return c.ackDueAt === undefined ? { type: 'TIMER', at: AT, name: ACK_DEADLINE_TIMER } : undefined;
      default: return { type: 'TIMER', at: AT, name: 'cleanHold' };
    }
    case 'UNKNOWN': return { type: 'REASSIGN', at: AT, by: 'mes' };
    case 'CREATE': return undefined;
  }
}

const rows = rowsOf(CONTEXT_HANDSHAKE_REQUIREMENTS);

const contextOf = (s: AnyMachineSnapshot) => s.context as ContextHandshakeContext;

/** The context-handshake machine under the model-based tests, with test/model/requirements/context-handshake.ts as the oracle. */
export const contextHandshakeAdapter: ModelAdapter = {
  name: 'contextHandshake',
  machine: contextHandshakeMachine,
  version: CONTEXT_HANDSHAKE_MACHINE_VERSION,
  variants: [{ name: 'one-source', input: contextHandshakeInput }],
  kind: (actors) => contextHandshakeKind(actors as ReadonlyMap<string, ContextHandshakeInput>),
  events: (s, variant) => rowCandidates(rows, String(s.value), variant, (event, given) =>
    contextHandshakeEvent(contextOf(s), event as ContextHandshakeEventName, given as ContextHandshakeGiven | undefined)),
  // Sequence numbers and times grow without bound; the requirements tell apart only these facts.
  serialize: (s) => {
    const c = contextOf(s);
    return JSON.stringify([s.value, c.lastSeq > 0, c.context?.batchId ?? null, c.ackDueAt !== undefined, c.ackOverdue]);
  },
  stateOf: (s) => String(s.value),
  oracle: rowOracle(rows),
  requirements: CONTEXT_HANDSHAKE_REQUIREMENTS.map((r) => ({ id: r.id, text: r.text, source: 'test/model/requirements/context-handshake.ts' })),
};
