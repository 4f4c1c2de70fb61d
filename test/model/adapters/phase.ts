import { phaseKind } from '../../../actors/phase.actor.ts';
import { PHASE_MACHINE_VERSION, phaseMachine, type PhaseContext, type PhaseInput } from '../../../machines/phase.machine.ts';
import type { ActorEvent } from '../../../actors/envelope.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, type Row } from '../harness/rows.ts';
import { PHASE_REQUIREMENTS, type PhaseVariant } from '../requirements/phase.ts';

const INPUTS: Record<PhaseVariant, (id: string) => PhaseInput> = {
  manual: (id) => ({ id, unit: 'R201', execution: 'manual' }),
  automatic: (id) => ({ id, unit: 'R101', execution: 'automatic', source: 'sim', commandTag: 'R101.CHARGE.CMD' }),
  'automatic-unconfigured': (id) => ({ id, unit: 'R101', execution: 'automatic' }),
};

const rows: Row[] = PHASE_REQUIREMENTS.flatMap((r) => r.transitions.map((t): Row => {
  const given = t.given ?? (t.reports ? `reports:${t.reports}` : undefined);
  return {
    requirement: r.id, from: t.from, event: t.event, to: t.to,
    ...(given ? { given } : {}), ...(t.variants ? { variants: t.variants } : {}),
  };
}));

/**
 * Whether the permissives of CONTRACT.md hold, computed here from the stored facts (context asserted, clean,
 * allocated, no interlock, no unsigned critical exception), not by the machine's own function.
 */
const permissivesHold = (c: PhaseContext): boolean => {
  const p = c.permissives;
  return Boolean(p.contextId) && p.unitClean && p.unitAllocated && p.interlocks.length === 0 && p.unsignedCriticalExceptions.length === 0;
};

const AT = MODEL_T0 + 1_000;

function build(c: PhaseContext, state: string, event: string, given: string | undefined): ActorEvent | undefined {
  const stamp = { at: AT, by: 'op1' };
  const failing = !permissivesHold(c);
  switch (event) {
    case 'SC': return { type: 'STATE_COMPLETE', ...stamp, from: given === 'wrong_from' ? (state === 'Running' ? 'Held' : 'Running') : state };
    case 'PLC_STATE': return given === 'unknown_state' ? { type: 'PLC_STATE', ...stamp, state: 'Exploded' }
      : given?.startsWith('reports:') ? { type: 'PLC_STATE', ...stamp, by: 'plc:sim', state: given.slice('reports:'.length) }
      : { type: 'PLC_STATE', ...stamp, by: 'plc:sim', state: 'Running' };
    case 'UNIT_STATUS': return given === 'unit_ready'
      ? { type: 'UNIT_STATUS', ...stamp, by: 'unit:R', contextId: 'ctx-1', batchId: 'B1', clean: true, allocated: true }
      : { type: 'UNIT_STATUS', ...stamp, by: 'unit:R', clean: false, allocated: false };
    case 'INTERLOCK': return { type: 'INTERLOCK', ...stamp, id: 'EM-AGITATOR', active: given === 'interlock_on' };
    case 'CRITICAL_EXCEPTION': return { type: 'CRITICAL_EXCEPTION', ...stamp, id: 'EXC-1', unsigned: given === 'exception_open' };
    case 'SET_MODE': return { type: 'SET_MODE', ...stamp, mode: given === 'bad_mode' ? 'Turbo' : 'Semi-automatic' };
    case 'UNKNOWN': return { type: 'EXPLODE', ...stamp };
    default: // an ISA-88 command: the row's situation must be the snapshot's
      if ((given === 'permissive_failing') !== failing) return undefined;
      return { type: event, ...stamp, reason: 'model test' };
  }
}

/** The phase machine under the model-based tests: ISA-88 §1.3 (isa88-phase.ts) and URS-PHASE (phase.ts) as the oracle. */
export const phaseAdapter: ModelAdapter = {
  name: 'phase',
  machine: phaseMachine,
  version: PHASE_MACHINE_VERSION,
  variants: (Object.keys(INPUTS) as PhaseVariant[]).map((name) => ({ name, input: INPUTS[name] })),
  kind: (actors) => phaseKind({ phases: [...actors.values()] as PhaseInput[], commandExpiryMs: () => 10_000 }),
  events: (s, variant) => {
    const c = s.context as PhaseContext;
    return rowCandidates(rows, String(s.value), variant, (event, given) => build(c, String(s.value), event, given));
  },
  serialize: (s) => {
    const p = (s.context as PhaseContext).permissives;
    return JSON.stringify([s.value, Boolean(p.contextId && p.unitClean && p.unitAllocated), p.interlocks.length, p.unsignedCriticalExceptions.length]);
  },
  stateOf: (s) => String(s.value),
  oracle: rowOracle(rows),
  requirements: PHASE_REQUIREMENTS.map((r) => ({
    id: r.id, text: r.text, source: r.id.startsWith('ISA') ? 'test/model/requirements/isa88-phase.ts (STANDARDS.md §1.3)' : 'test/model/requirements/phase.ts',
  })),
};
