import canonicalize from 'canonicalize';
import { transition, type AnyMachineSnapshot } from 'xstate';
import { restore } from '../../../actors/apply.ts';
import type { ModelAdapter } from './adapter.ts';
import type { Plan } from './generate.ts';
import type { HostRun } from './host-run.ts';
import { MODEL_ACTOR_ID } from './generate.ts';
import { activeStates } from './targets.ts';

/** One step as checked: what the oracle expected, what the host did, and the verdict. */
export interface CheckedStep {
  event: string;
  given?: string;
  from: string;
  to: string;
  rejection?: string;
  requirement?: string;
  row?: string;
  taken: string[];
  ok: boolean;
  problem?: string;
}

export interface CheckedPath {
  id: string;
  variant: string;
  purpose: string;
  restoredAt: number;
  steps: CheckedStep[];
  ok: boolean;
}

/** The machine's coverage over its state nodes and transitions (CONTRACT: `coverage.json`). */
export interface Coverage {
  states: number;
  statesCovered: number;
  transitions: number;
  transitionsCovered: number;
  guardsFalse: number;
  guardsFalseCovered: number;
}

/** The whole result for one machine, written to `var/validation/runs/<machine>.json` for the report. */
export interface ModelResult {
  machine: string;
  version: number;
  ranAt: string;
  runtime: string;
  coverage: Coverage;
  explored: Plan['explored'];
  states: { id: string; coveredBy: string[] }[];
  transitions: { key: string; source: string; event: string; target?: string; guard?: string; description?: string; requirements?: string[]; coveredBy: string[]; guardFalseBy: string[] }[];
  requirements: { id: string; text: string; source: string; transitions: string[]; tests: string[]; ok: boolean }[];
  paths: CheckedPath[];
  /** Every explored edge checked against the oracle on the pure machine; failures listed (at most 50). */
  edges: { checked: number; failed: string[] };
  deadLetters: string[];
  hostMs: number;
}

/** Canonical JSON (RFC 8785: sorted keys, undefined dropped), as persistence does not keep key order or undefined. */
const plainSnapshot = (s: { value: unknown; context: unknown }) => canonicalize(JSON.parse(JSON.stringify({ value: s.value, context: s.context })))!;

/**
 * Checks every step the host ran against the requirement oracle and against the pure machine, and counts coverage
 * from what the host actually did (a step the host did not answer covers nothing).
 */
export function check(adapter: ModelAdapter, plan: Plan, run: HostRun, runtime: string): ModelResult {
  const stateCover = new Map(plan.targets.states.map((s) => [s, new Set<string>()]));
  const transCover = new Map(plan.targets.transitions.map((t) => [t.key, { taken: new Set<string>(), guardFalse: new Set<string>() }]));
  const reqs = new Map(adapter.requirements.map((r) => [r.id, { ...r, transitions: new Set<string>(), tests: new Set<string>(), ok: true }]));
  const paths: CheckedPath[] = plan.paths.map((p, i) => {
    const hp = run.paths[i]!;
    const created = hp.created ? restore(adapter.machine, hp.created.snapshot) as AnyMachineSnapshot : undefined;
    if (created) for (const s of activeStates(created)) stateCover.get(s)?.add(p.id);
    const steps: CheckedStep[] = p.steps.map((step, k) => {
      const hs = hp.steps[k];
      const from = adapter.stateOf(step.before);
      const base = { event: step.candidate.event.type, ...(step.candidate.given ? { given: step.candidate.given } : {}), from, taken: step.taken };
      if (!hs?.outcome || !hs.persisted) return { ...base, to: '?', ok: false, problem: 'the host did not answer within 10 s' };
      const after = restore(adapter.machine, hs.persisted.snapshot) as AnyMachineSnapshot;
      const to = adapter.stateOf(after);
      const rejection = hs.outcome.rejection?.code;
      const problems: string[] = [];
      if (hs.persisted.lastSeq !== hs.outcome.seq) problems.push(`persisted lastSeq ${hs.persisted.lastSeq} ≠ input seq ${hs.outcome.seq}`);
      // The pure run used the model's actor id; the host ran this path under its own id.
      const hostSnapshot = plainSnapshot(hs.persisted.snapshot).replaceAll(JSON.stringify(hp.actorId), JSON.stringify(MODEL_ACTOR_ID(adapter)));
      if (hostSnapshot !== plainSnapshot(step.after)) problems.push('host snapshot differs from the pure machine\'s');
      const rows = adapter.oracle({ variant: p.variant, from, candidate: step.candidate, before: step.before });
      const match = rows.find((r) => r.reject ? rejection === r.reject && to === from : !rejection && to === r.to);
      if (rows.length === 0) problems.push(`no requirement covers ${from} --${base.event}${base.given ? `(${base.given})` : ''}-->`);
      else if (!match) problems.push(`expected ${rows.map((r) => `${r.requirement}: ${r.reject ? `reject ${r.reject}` : r.to}`).join(' or ')}; got ${rejection ? `reject ${rejection}` : to}`);
      for (const t of step.taken) {
        const declared = plan.targets.transitions.find((x) => x.key === t)?.requirements;
        if (match && declared && !declared.includes(match.requirement)) {
          problems.push(`transition ${t} names ${declared.join(', ')} but the step matched ${match.requirement}`);
        }
      }
      const ok = problems.length === 0;
      if (ok) {
        for (const s of activeStates(after)) stateCover.get(s)?.add(p.id);
        for (const t of step.taken) transCover.get(t)?.taken.add(p.id);
        for (const g of step.guardFalse) transCover.get(g.replace(/ \[guard false\]$/, ''))?.guardFalse.add(p.id);
      }
      if (match) {
        const r = reqs.get(match.requirement);
        if (r) {
          step.taken.forEach((t) => r.transitions.add(t));
          r.tests.add(p.id);
          if (!ok) r.ok = false;
        }
      }
      return { ...base, to, ...(rejection ? { rejection } : {}), ...(match ? { requirement: match.requirement, row: match.row } : {}), ok, ...(ok ? {} : { problem: problems.join('; ') }) };
    });
    return { id: p.id, variant: p.variant, purpose: p.purpose, restoredAt: hp.restoredAt, steps, ok: steps.every((s) => s.ok) };
  });
  const guarded = plan.targets.transitions.filter((t) => t.guard);
  const transitions = plan.targets.transitions.map((t) => ({
    key: t.key, source: t.source, event: t.event, ...(t.target ? { target: t.target } : {}), ...(t.guard ? { guard: t.guard } : {}),
    ...(t.description ? { description: t.description } : {}), ...(t.requirements ? { requirements: t.requirements } : {}),
    coveredBy: [...transCover.get(t.key)!.taken], guardFalseBy: [...transCover.get(t.key)!.guardFalse],
  }));
  return {
    machine: adapter.name, version: adapter.version, ranAt: new Date().toISOString(), runtime,
    coverage: {
      states: stateCover.size, statesCovered: [...stateCover.values()].filter((s) => s.size > 0).length,
      transitions: transitions.length, transitionsCovered: transitions.filter((t) => t.coveredBy.length > 0).length,
      guardsFalse: guarded.length, guardsFalseCovered: transitions.filter((t) => t.guard && t.guardFalseBy.length > 0).length,
    },
    explored: plan.explored,
    states: [...stateCover].map(([id, by]) => ({ id, coveredBy: [...by] })),
    transitions,
    requirements: [...reqs.values()].map((r) => ({ ...r, transitions: [...r.transitions], tests: [...r.tests], ok: r.ok && r.tests.size > 0 })),
    paths,
    edges: checkEdges(adapter, plan),
    deadLetters: run.deadLetters,
    hostMs: run.ms,
  };
}

/**
 * The oracle over every edge the exploration found, on the pure machine: the host runs only the paths needed for
 * coverage, but a wrong outcome on any explored edge is a failure too.
 */
function checkEdges(adapter: ModelAdapter, plan: Plan): ModelResult['edges'] {
  const failed: string[] = [];
  for (const { variant, before, candidate } of plan.edges) {
    const [after, actions] = transition(adapter.machine, before as never, candidate.event as never) as unknown as [AnyMachineSnapshot, { type: string; params?: unknown }[]];
    const from = adapter.stateOf(before);
    const to = adapter.stateOf(after);
    const rejection = (actions.find((a) => a.type === 'reject')?.params as { code?: string } | undefined)?.code;
    const rows = adapter.oracle({ variant, from, candidate, before });
    const ok = rows.some((r) => (r.reject ? rejection === r.reject && to === from : !rejection && to === r.to));
    if (!ok && failed.length < 50) {
      const label = `[${variant}] ${from} --${candidate.name ?? candidate.event.type}${candidate.given ? `(${candidate.given})` : ''}-->`;
      failed.push(rows.length === 0 ? `${label} no requirement covers it` : `${label} expected ${rows.map((r) => r.reject ? `reject ${r.reject}` : r.to).join(' or ')}; got ${rejection ? `reject ${rejection}` : to}`);
    }
  }
  return { checked: plan.edges.length, failed };
}
