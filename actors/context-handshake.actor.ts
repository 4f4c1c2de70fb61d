import {
  CONTEXT_HANDSHAKE_MACHINE_VERSION, contextHandshakeMachine, type ContextHandshakeContext, type ContextHandshakeInput,
} from '../machines/context-handshake.machine.ts';
import type { ContextAssertion, ContextRelease } from '../nats/context.schema.ts';
import { subjects } from '../nats/subjects.ts';
import { isoTimes } from './iso-time.ts';
import type { ApplyInfo, PersistedState } from './kind.ts';
import { auditOf, machineKind } from './machine-kind.ts';

const TYPE = 'contextHandshake';

/** A notice on the actor's own event subject (`evt.contextHandshake.<unit>.<name>`), for operators and the MES. */
const notice = (info: ApplyInfo, name: string, payload: Record<string, unknown>) =>
  ({ subject: `${subjects.event(TYPE, info.id)}.${name}`, payload });

/**
 * The context-handshake actor kind: an accepted assertion is answered with its context id (and gap) and published on
 * `ctx.<unit>` for the edges, acknowledgements, gaps, overdue acknowledgements and releases are recorded
 * (CONTRACT.md `POST /units/:id/context`, §5.3 `ctx.<unit>`; ALCOA+ attributable, complete).
 */
export function contextHandshakeKind(actors: ReadonlyMap<string, ContextHandshakeInput>) {
  return machineKind({
    type: TYPE, machine: contextHandshakeMachine, version: CONTEXT_HANDSHAKE_MACHINE_VERSION, actors,
    stateName: (s) => String(s.value),
    view: contextHandshakeView,
    effects: {
      contextAsserted: (p, info) => {
        const { context, unit } = p as { context: Record<string, unknown>; unit: string };
        return {
          reply: { contextId: context.contextId, seq: context.seq, ...(context.gap ? { gap: context.gap } : {}) },
          publish: [{ subject: subjects.context(unit), payload: { unit, ...context, at: info.event.at, by: info.event.by ?? 'system' } as ContextAssertion }],
          ...auditOf(TYPE, 'asserted', info, context),
        };
      },
      annotateGap: (p, info) => ({
        publish: [notice(info, 'gap', p)],
        ...auditOf(TYPE, 'sequence_gap', info, p),
      }),
      edgeAcknowledged: (p, info) => {
        const ack = p.ack as { source: string };
        return auditOf(TYPE, p.repeated ? 'acknowledged.again' : 'acknowledged', info, p, `edge:${ack.source}`);
      },
      ackOverdue: (p, info) => ({
        publish: [notice(info, 'ack_overdue', p)],
        ...auditOf(TYPE, 'ack_overdue', info, p, 'system'),
      }),
      contextReleased: (p, info) => ({
        publish: [{ subject: subjects.context(String(p.unit)), payload: { ...p, released: true } as ContextRelease }],
        ...auditOf(TYPE, 'released', info, p),
      }),
    },
  });
}

/** The public view of one unit's context handshake (the shape `GET /units/:id` nests as its context). */
export function contextHandshakeView(id: string, s: PersistedState): Record<string, unknown> {
  const c = s.context as unknown as ContextHandshakeContext;
  return isoTimes({
    id, state: String(s.value), context: c.context ?? null, lastSeq: c.lastSeq, acks: c.acks, ackOverdue: c.ackOverdue,
    ...(c.ackDueAt !== undefined ? { ackDueAt: c.ackDueAt } : {}),
    ...(c.released ? { released: c.released } : {}), gapCount: c.gapCount,
  });
}
