import { migrateUnitSnapshot, unitMachine, UNIT_MACHINE_VERSION, type UnitContext, type UnitInput, type UnitStatus } from '../machines/unit.machine.ts';
import type { ContextAssertion, ContextRelease } from '../nats/context.schema.ts';
import { subjects } from '../nats/subjects.ts';
import type { InputEnvelope } from './envelope.ts';
import { isoTimes } from './iso-time.ts';
import type { ActionResult, ActorKind, ApplyInfo, PersistedState } from './kind.ts';

/**
 * The unit actor kind: ISA-88 unit allocation, the MES-asserted context and the GMP equipment status (cleaning,
 * sterilisation, hold times, line clearance, maintenance) (ISA-88.01 §4.2, §5.6; EU GMP Ch. 5.35, Annex 15 §10).
 */
export function unitKind(units: UnitInput[]): ActorKind<ReturnType<typeof unitView>> {
  const actors = new Map(units.map((u) => [u.id, u]));
  return {
    type: 'unit',
    machine: unitMachine,
    version: UNIT_MACHINE_VERSION,
    actors,
    // v1 snapshots lack the hold times and line clearance: the unit's configured input supplies them.
    migrate: (from, state, id) => migrateUnitSnapshot(from, state, actors.get(id)),
    stateName: (s) => {
      const v = s.value as { availability: string; hygiene: string };
      return `${v.availability}/${v.hygiene}`;
    },
    view: unitView,
    interpret,
  };
}

const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/**
 * The CONTRACT.md §2 shape of `GET /units/:id`, with the GMP equipment status, its deadlines and the line clearance,
 * every time ISO 8601 (ALCOA+ "contemporaneous").
 */
export function unitView(id: string, s: PersistedState) {
  const c = s.context as unknown as UnitContext;
  const v = s.value as { availability: string; hygiene: string };
  const lc = c.lineClearance;
  return isoTimes({
    id,
    state: v.availability,
    hygiene: v.hygiene,
    equipmentStatus: v.availability === 'OutOfService' ? 'OutOfService' : v.hygiene,
    context: c.context ?? null,
    lastContextSeq: c.lastSeq,
    ...(c.allocatedTo ? { allocatedTo: c.allocatedTo } : {}),
    ...(c.allocation ? { allocation: c.allocation } : {}),
    ...defined({ cleanUntil: c.cleanUntil, sterileUntil: c.sterileUntil }),
    ...(v.hygiene === 'Dirty' || v.hygiene === 'Cleaning' ? defined({ dirtyUntil: c.dirtyUntil, dirtyHoldExpired: c.dirtyHoldExpired }) : {}),
    requiresSterile: c.requiresSterile,
    lineClearance: lc ? defined({ by: lc.by, at: lc.at, batchId: lc.batchId, firstStart: lc.firstStart }) : null,
    ...(c.cycle ? { cycle: defined({ ...c.cycle }) } : {}),
    ...(c.maintenance ? { maintenance: c.maintenance } : {}),
    phases: c.phases,
  });
}

type Params = Record<string, unknown>;

/** The `ctx.<unit>` release at batch end, naming the context it ends (nats/context.schema.ts; ISA-88.01 §5.6). */
function releaseOf(info: ApplyInfo): ContextRelease {
  const e = info.event;
  const held = (info.before.context as unknown as UnitContext).context;
  return {
    unit: info.id, released: true, batchId: String(e.batchId), ...(held ? { contextId: held.contextId, seq: held.seq } : {}),
    at: e.at, ...(e.by === undefined ? {} : { by: e.by }), ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
  };
}

/** Audit records of the GMP equipment status, each with who and when (21 CFR 11.10(e); EU GMP Annex 11 §9). */
function record(action: string, info: ApplyInfo, p: Params): ActionResult {
  const { by, at: _at, ...after } = p as { by?: string; at?: number };
  return { audit: [{ who: by ?? info.event.by ?? 'system', action, target: `unit:${info.id}`, after }] };
}

function interpret(action: { type: string; params?: unknown }, info: ApplyInfo): ActionResult | undefined {
  const p = (action.params ?? {}) as Params;
  const e = info.event;
  switch (action.type) {
    case 'reject': {
      const { code, message, ...details } = p as { code: string; message: string };
      return { rejection: { code, message, ...details } };
    }
    case 'contextAccepted': {
      const ctx = (info.after.context as unknown as UnitContext).context;
      const payload = { unit: info.id, ...ctx!, at: e.at, by: e.by } satisfies ContextAssertion;
      return {
        reply: { contextId: p.contextId, seq: p.seq, ...(p.gap ? { gap: true, previousSeq: p.previousSeq } : {}) },
        publish: [{ subject: subjects.context(info.id), payload }],
        audit: [{ who: e.by ?? 'system', action: 'context.asserted', target: `unit:${info.id}`, after: { ...ctx, gap: !!p.gap } }],
      };
    }
    case 'recordAllocation':
      return record('unit.allocated', info, p);
    case 'recordLineClearance':
      return record('unit.line_clearance', info, p);
    case 'recordCycle':
      return record(`unit.${String(p.kind).toLowerCase()}.${p.step === 'start' ? 'started' : p.ok ? 'passed' : 'failed'}`, info, p);
    case 'recordMaintenance':
      return record(`unit.maintenance.${p.step === 'start' ? 'started' : 'ended'}`, info, p);
    case 'notifyPhases': {
      const { phases, status } = p as { phases: string[]; status: UnitStatus };
      const publish: { subject: string; payload: InputEnvelope | ContextRelease }[] = phases.map((phase) => ({
        subject: subjects.inbox('phase', phase),
        payload: { event: { type: 'UNIT_STATUS', at: e.at, by: `unit:${info.id}`, ...status } } satisfies InputEnvelope,
      }));
      if (e.type === 'RELEASE') publish.push({ subject: subjects.context(info.id), payload: releaseOf(info) });
      return { publish };
    }
    default:
      return undefined;
  }
}
