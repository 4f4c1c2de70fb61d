import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import type { ActorEvent } from '../../../actors/envelope.ts';
import type { Candidate, ModelAdapter } from './adapter.ts';
import { activeStates, stepCoverage, targetsOf, type Targets } from './targets.ts';

/** One generated step: the input, the situation it builds, and what the pure machine did with it. */
export interface PlannedStep {
  candidate: Candidate;
  before: AnyMachineSnapshot;
  after: AnyMachineSnapshot;
  taken: string[];
  guardFalse: string[];
}

/** One generated test path: an actor created with the variant's input, then its steps in order. */
export interface PlannedPath {
  id: string;
  variant: string;
  /** Why the path exists: the coverage target it was chosen for. */
  purpose: string;
  initial: AnyMachineSnapshot;
  steps: PlannedStep[];
}

export interface Plan {
  targets: Targets;
  paths: PlannedPath[];
  /** Snapshots explored (after state-space reduction) and edges, per variant. */
  explored: Record<string, { states: number; edges: number }>;
  /** Every explored edge, for the oracle to check against the pure machine (not only those the paths use). */
  edges: { variant: string; before: AnyMachineSnapshot; candidate: Candidate }[];
}

interface Edge {
  variant: string;
  stateKey: string;
  step: PlannedStep;
  cost: number;
}

/** The actor id the pure exploration runs under (the host runs each path under its own id). */
export const MODEL_ACTOR_ID = (adapter: ModelAdapter): string => `${adapter.name}-model`;

const eventKey = (e: ActorEvent): string => JSON.stringify(e);

/**
 * Generates test paths from the machine definition with `xstate/graph`: the shortest path to every reachable
 * (reduced) snapshot, then, for every coverage target (state node, transition, guard evaluated false), the cheapest
 * edge that covers it appended to the shortest path to its source. The adapter decides which inputs exist; the
 * machine decides where they lead.
 */
export function plan(adapter: ModelAdapter, opts: { limit?: number } = {}): Plan {
  const targets = targetsOf(adapter.machine);
  const best = new Map<string, Edge>();
  const explored: Plan['explored'] = {};
  const allEdges: Plan['edges'] = [];
  const shortest = new Map<string, { variant: string; initial: AnyMachineSnapshot; steps: PlannedStep[] }>();
  for (const variant of adapter.variants) {
    const labels = new Map<string, Candidate>();
    // Two situations may build the same input in different states: labels are per (state, input).
    const labelKey = (s: AnyMachineSnapshot, e: ActorEvent) => `${adapter.serialize(s)}|${eventKey(e)}`;
    const events = (s: AnyMachineSnapshot) => adapter.events(s, variant.name).map((c) => {
      labels.set(labelKey(s, c.event), c);
      return c.event;
    });
    const options = {
      input: variant.input(MODEL_ACTOR_ID(adapter)),
      events: events as never,
      serializeState: ((s: AnyMachineSnapshot) => adapter.serialize(s)) as never,
      serializeEvent: eventKey as never,
      limit: opts.limit ?? 50_000,
    };
    const adjacency = getAdjacencyMap(adapter.machine, options);
    const paths = getShortestPaths(adapter.machine, options);
    // Not the graph's xstate.init step: its snapshot is the representative of the initial reduced state, which may
    // have been reached again later with a different context.
    const [initial] = initialTransition(adapter.machine, options.input) as unknown as [AnyMachineSnapshot];
    for (const state of activeStates(initial)) consider(`state ${state}`, { variant: variant.name, stateKey: '', step: undefined as never, cost: 0 });
    const toSteps = (steps: { event: ActorEvent; state: AnyMachineSnapshot }[]): PlannedStep[] => {
      let prev = initial;
      return steps.map(({ event, state }) => {
        const cov = stepCoverage(targets, prev, event, state);
        const step = { candidate: labels.get(labelKey(prev, event)) ?? { event }, before: prev, after: state, taken: cov.taken, guardFalse: cov.guardFalse };
        prev = state;
        return step;
      });
    };
    for (const p of paths) {
      const key = adapter.serialize(p.state as AnyMachineSnapshot);
      shortest.set(`${variant.name}|${key}`, { variant: variant.name, initial, steps: toSteps(p.steps.slice(1) as never) });
    }
    let edges = 0;
    for (const [stateKey, { state, transitions }] of Object.entries(adjacency)) {
      const depth = shortest.get(`${variant.name}|${stateKey}`)?.steps.length ?? Infinity;
      for (const { event, state: next } of Object.values(transitions) as { event: ActorEvent; state: AnyMachineSnapshot }[]) {
        edges++;
        const cov = stepCoverage(targets, state as AnyMachineSnapshot, event, next);
        const step: PlannedStep = {
          candidate: labels.get(labelKey(state as AnyMachineSnapshot, event)) ?? { event }, before: state as AnyMachineSnapshot, after: next,
          taken: cov.taken, guardFalse: cov.guardFalse,
        };
        allEdges.push({ variant: variant.name, before: step.before, candidate: step.candidate });
        const edge = { variant: variant.name, stateKey, step, cost: depth + 1 };
        for (const t of cov.taken) consider(`transition ${t}`, edge);
        for (const g of cov.guardFalse) consider(`guard ${g}`, edge);
        for (const s of cov.active) consider(`state ${s}`, edge);
        // Every requirement row the exploration can reach gets a path on the host too, not only every transition.
        const q = { variant: variant.name, from: adapter.stateOf(step.before), candidate: step.candidate, before: step.before };
        for (const r of adapter.oracle(q)) consider(`requirement ${r.requirement}: ${r.row}`, edge);
      }
    }
    explored[variant.name] = { states: Object.keys(adjacency).length, edges };
  }

  function consider(target: string, edge: Edge): void {
    const current = best.get(target);
    if (!current || edge.cost < current.cost) best.set(target, edge);
  }

  const paths: PlannedPath[] = [];
  const chosen = new Map<string, PlannedPath>();
  for (const [target, edge] of [...best.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (!edge.step) continue; // an initial state: covered by creating any actor of the variant
    const key = `${edge.variant}|${edge.stateKey}|${eventKey(edge.step.candidate.event)}`;
    const existing = chosen.get(key);
    if (existing) {
      existing.purpose += `; ${target}`;
      continue;
    }
    const prefix = shortest.get(`${edge.variant}|${edge.stateKey}`)!;
    const path: PlannedPath = {
      id: `${adapter.name}#${paths.length + 1}`, variant: edge.variant, purpose: target,
      initial: prefix.initial, steps: replay(targets, prefix.initial, [...prefix.steps, edge.step].map((x) => x.candidate)),
    };
    chosen.set(key, path);
    paths.push(path);
  }
  return { targets, paths, explored, edges: allEdges };
}

/**
 * Replays a path's inputs from the initial snapshot with the pure `transition()`. The graph keeps one representative
 * snapshot per reduced state, which may have been reached another way; the steps of a test path are what these very
 * inputs do.
 */
function replay(targets: Targets, initial: AnyMachineSnapshot, candidates: Candidate[]): PlannedStep[] {
  let before = initial;
  return candidates.map((candidate) => {
    const [after] = transition(initial.machine, before as never, candidate.event as never) as unknown as [AnyMachineSnapshot];
    const cov = stepCoverage(targets, before, candidate.event, after);
    const step = { candidate, before, after, taken: cov.taken, guardFalse: cov.guardFalse };
    before = after;
    return step;
  });
}
