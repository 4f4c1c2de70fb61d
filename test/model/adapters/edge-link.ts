import type { AnyMachineSnapshot } from 'xstate';
import { edgeLinkKind } from '../../../actors/edge-link.actor.ts';
import type { ActorEvent } from '../../../actors/envelope.ts';
import {
  EDGE_LINK_MACHINE_VERSION, HEARTBEAT_TIMER, edgeLinkMachine, type EdgeLinkContext, type EdgeLinkInput,
} from '../../../machines/edge-link.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, rowsOf } from '../harness/rows.ts';
import { EDGE_LINK_REQUIREMENTS, type EdgeLinkEventName, type EdgeLinkGiven } from '../requirements/edge-link.ts';

/** Edge source `line2` (CONTRACT.md §3 demo plant), stale 15 s after its last heartbeat. */
export const edgeLinkInput = (id: string): EdgeLinkInput => ({ source: id, staleAfterMs: 15_000 });

const AT = MODEL_T0 + 1_000;
const GAP = { from: 10, to: 12 };

/**
 * The input a requirement row names (event and situation) in a snapshot; undefined when the snapshot cannot build the
 * situation (e.g. the current epoch before one is known, a pending gap when none is, a due deadline when none runs).
 */
export function edgeLinkEvent(c: EdgeLinkContext, event: EdgeLinkEventName, given: EdgeLinkGiven | undefined): ActorEvent | undefined {
  const current = c.epoch;
  const epoch = given === 'other_epoch' ? 'e9' : current;
  switch (event) {
    case 'HEARTBEAT': {
      if (given === 'other_epoch' && current === undefined) return undefined;
      const hb = { type: 'HEARTBEAT', at: AT, by: 'edge:line2', sent: AT - 250, epoch: epoch ?? 'e1', bufferDepth: 0, collector: 'ok' };
      switch (given) {
        case 'buffering': return { ...hb, bufferDepth: 7, oldestBufferedAt: AT - 60_000 };
        case 'replaying': return { ...hb, bufferDepth: 7, replaying: true };
        case 'malformed': return { ...hb, bufferDepth: -1 };
        default: return hb;
      }
    }
    case 'TIMER': switch (given) {
      case 'due': return c.staleAt === undefined ? undefined : { type: 'TIMER', at: c.staleAt, name: HEARTBEAT_TIMER };
      case 'not_due': return c.staleAt === undefined ? undefined : { type: 'TIMER', at: c.staleAt - 1, name: HEARTBEAT_TIMER };
      case 'no_deadline': return c.staleAt === undefined ? { type: 'TIMER', at: AT, name: HEARTBEAT_TIMER } : undefined;
      default: return { type: 'TIMER', at: AT, name: 'cleanHold' };
    }
    case 'GAP_DETECTED': case 'GAP_FILLED': case 'GAP_LOST': {
      if (epoch === undefined) return undefined;
      if (given === 'pending' && c.pending.length === 0) return undefined;
      const range = given === 'bad_range' ? { from: 5, to: 4 } : given === 'not_pending' ? { from: 900, to: 901 }
        : given === 'pending' ? c.pending[0]! : GAP;
      return { type: event, at: AT, by: 'ingest', epoch, ...range };
    }
    case 'EPOCH':
      if (given === 'blank_epoch') return { type: 'EPOCH', at: AT, by: 'ingest', epoch: ' ' };
      if (given === 'same_epoch') return current === undefined ? undefined : { type: 'EPOCH', at: AT, by: 'ingest', epoch: current };
      return { type: 'EPOCH', at: AT, by: 'ingest', epoch: current === 'e1' ? 'e2' : 'e1' };
    case 'UNKNOWN': return { type: 'RECONNECT', at: AT, by: 'ingest' };
    case 'CREATE': return undefined;
  }
}

const rows = rowsOf(EDGE_LINK_REQUIREMENTS);

const contextOf = (s: AnyMachineSnapshot) => s.context as EdgeLinkContext;

/** The edge-link machine under the model-based tests, with test/model/requirements/edge-link.ts as the oracle. */
export const edgeLinkAdapter: ModelAdapter = {
  name: 'edgeLink',
  machine: edgeLinkMachine,
  version: EDGE_LINK_MACHINE_VERSION,
  variants: [{ name: 'line2', input: edgeLinkInput }],
  kind: (actors) => edgeLinkKind(actors as ReadonlyMap<string, EdgeLinkInput>),
  events: (s, variant) => rowCandidates(rows, String(s.value), variant, (event, given) =>
    edgeLinkEvent(contextOf(s), event as EdgeLinkEventName, given as EdgeLinkGiven | undefined)),
  // Counters and times grow without bound; the requirements tell apart the epoch, the pending gaps and the deadline.
  serialize: (s) => {
    const c = contextOf(s);
    return JSON.stringify([s.value, c.epoch ?? null, c.pending, c.staleAt !== undefined]);
  },
  stateOf: (s) => String(s.value),
  oracle: rowOracle(rows),
  requirements: EDGE_LINK_REQUIREMENTS.map((r) => ({ id: r.id, text: r.text, source: 'test/model/requirements/edge-link.ts' })),
};
