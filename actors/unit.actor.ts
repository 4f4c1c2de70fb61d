import { unitMachine, UNIT_MACHINE_VERSION, type UnitContext, type UnitInput, type UnitStatus } from '../machines/unit.machine.ts';
import { subjects } from '../nats/subjects.ts';
import type { InputEnvelope } from './envelope.ts';
import type { ActionResult, ActorKind, ApplyInfo, PersistedState } from './kind.ts';

/** The unit actor kind: ISA-88 unit allocation, hygiene and the MES-asserted context (ISA-88.01 §4.2, §5.6). */
export function unitKind(units: UnitInput[]): ActorKind {
  return {
    type: 'unit',
    machine: unitMachine,
    version: UNIT_MACHINE_VERSION,
    actors: new Map(units.map((u) => [u.id, u])),
    stateName: (s) => {
      const v = s.value as { availability: string; hygiene: string };
      return `${v.availability}/${v.hygiene}`;
    },
    view: unitView,
    interpret,
  };
}

/** The CONTRACT.md §2 shape of `GET /units/:id`. */
export function unitView(id: string, s: PersistedState): Record<string, unknown> {
  const c = s.context as unknown as UnitContext;
  const v = s.value as { availability: string; hygiene: string };
  return {
    id,
    state: v.availability,
    hygiene: v.hygiene,
    context: c.context ?? null,
    lastContextSeq: c.lastSeq,
    ...(c.allocatedTo ? { allocatedTo: c.allocatedTo } : {}),
    ...(c.cleanUntil ? { cleanUntil: new Date(c.cleanUntil).toISOString() } : {}),
    phases: c.phases,
  };
}

function interpret(action: { type: string; params?: unknown }, info: ApplyInfo): ActionResult | undefined {
  const p = (action.params ?? {}) as Record<string, unknown>;
  const e = info.event;
  switch (action.type) {
    case 'reject': {
      const { code, message, ...details } = p as { code: string; message: string };
      return { rejection: { code, message, ...details } };
    }
    case 'contextAccepted': {
      const ctx = (info.after.context as unknown as UnitContext).context;
      const payload = { unit: info.id, ...ctx, at: e.at, by: e.by };
      return {
        reply: { contextId: p.contextId, seq: p.seq, ...(p.gap ? { gap: true, previousSeq: p.previousSeq } : {}) },
        publish: [{ subject: subjects.context(info.id), payload }],
        audit: [{ who: e.by ?? 'system', action: 'context.asserted', target: `unit:${info.id}`, after: { ...ctx, gap: !!p.gap } }],
      };
    }
    case 'notifyPhases': {
      const { phases, status } = p as { phases: string[]; status: UnitStatus };
      const publish = phases.map((phase) => ({
        subject: subjects.inbox('phase', phase),
        payload: { event: { type: 'UNIT_STATUS', at: e.at, by: `unit:${info.id}`, ...status } } satisfies InputEnvelope,
      }));
      if (e.type === 'RELEASE') {
        publish.push({ subject: subjects.context(info.id), payload: { unit: info.id, released: true, batchId: e.batchId, at: e.at, by: e.by } as never });
      }
      return { publish };
    }
    default:
      return undefined;
  }
}
