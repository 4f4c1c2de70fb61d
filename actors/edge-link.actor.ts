import { EDGE_LINK_MACHINE_VERSION, edgeLinkMachine, type EdgeLinkContext, type EdgeLinkInput } from '../machines/edge-link.machine.ts';
import { subjects } from '../nats/subjects.ts';
import { isoTime } from './iso-time.ts';
import type { ApplyInfo, PersistedState } from './kind.ts';
import { auditOf, machineKind } from './machine-kind.ts';

const TYPE = 'edgeLink';

/** A notice on the actor's own event subject (`evt.edgeLink.<source>.<name>`), for operators and `/metrics`. */
const notice = (info: ApplyInfo, name: string, payload: Record<string, unknown>) =>
  ({ publish: [{ subject: `${subjects.event(TYPE, info.id)}.${name}`, payload }] });

/** `GET /sources` status per link state (CONTRACT.md §2). */
const STATUS: Record<string, string> = {
  Unknown: 'never_seen', Online: 'online', Buffering: 'buffering', Replaying: 'replaying', Stale: 'stale',
};

/**
 * The edge-link actor kind: staleness and recovery are announced, lost gaps and new epochs are recorded as
 * annotations, never dropped silently (CONTRACT.md §5.1, §5.2; DESIGN.md principle 9; ALCOA+ complete).
 */
export function edgeLinkKind(actors: ReadonlyMap<string, EdgeLinkInput>) {
  return machineKind({
    type: TYPE, machine: edgeLinkMachine, version: EDGE_LINK_MACHINE_VERSION, actors,
    stateName: (s) => String(s.value),
    view: edgeLinkView,
    effects: {
      linkStale: (p, info) => notice(info, 'stale', p),
      linkRestored: (p, info) => notice(info, 'restored', p),
      gapDetected: (p, info) => notice(info, 'gap', p),
      gapFilled: (p, info) => notice(info, 'gap_filled', p),
      gapLost: (p, info) => ({ ...notice(info, 'gap_lost', p), ...auditOf(TYPE, 'gap.lost', info, p, 'system') }),
      epochStarted: (p, info) => ({ ...notice(info, 'epoch', p), ...auditOf(TYPE, 'epoch.started', info, p, `edge:${String(p.source)}`) }),
    },
  });
}

/** The link part of one entry of `GET /sources` (CONTRACT.md §2): status, epoch, gaps, buffer depth, clock offset. */
export function edgeLinkView(id: string, s: PersistedState): Record<string, unknown> {
  const c = s.context as unknown as EdgeLinkContext;
  return {
    id, state: String(s.value), status: STATUS[String(s.value)] ?? String(s.value), epoch: c.epoch ?? null,
    lastSeq: c.lastSeq ?? null,
    lastSeen: isoTime(c.lastHeartbeatAt) ?? null,
    gaps: {
      pending: c.pending.length, lost: c.lostRanges, ranges: c.pending,
      missing: { pending: c.pending.reduce((n, r) => n + r.to - r.from + 1, 0), lost: c.lostSeqs },
    },
    bufferDepth: c.bufferDepth,
    ...(c.clockOffsetMs === undefined ? {} : { clockOffsetMs: c.clockOffsetMs }),
    ...(c.collector ? { collector: c.collector } : {}),
    ...(c.staleSince === undefined ? {} : { staleSince: isoTime(c.staleSince) }),
  };
}
