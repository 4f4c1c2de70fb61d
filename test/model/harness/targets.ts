import type { AnyMachineSnapshot, AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { guardName } from '../../../src/diagrams/model.ts';

/** One transition of a machine definition, identified by its source node, event and position (SCXML document order). */
export interface TransitionTarget {
  key: string;
  source: string;
  event: string;
  index: number;
  target?: string;
  guard?: string;
  description?: string;
  /** The requirement ids the transition's `meta.requirement` names. */
  requirements?: string[];
  def: AnyTransitionDefinition;
}

/** What coverage is counted over: state nodes and transitions, not combinations of parallel regions. */
export interface Targets {
  states: string[];
  transitions: TransitionTarget[];
  byDef: Map<AnyTransitionDefinition, TransitionTarget>;
}

const nodeId = (n: AnyStateNode): string => (n.path.length ? n.path.join('.') : '(machine)');

function allNodes(root: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [root];
  for (const child of Object.values(root.states)) out.push(...allNodes(child));
  return out;
}

/** Every state node and transition of a machine, in document order. */
export function targetsOf(machine: AnyStateMachine): Targets {
  const states: string[] = [];
  const transitions: TransitionTarget[] = [];
  const byDef = new Map<AnyTransitionDefinition, TransitionTarget>();
  const add = (node: AnyStateNode, event: string, t: AnyTransitionDefinition, index: number) => {
    const meta = (t.meta ?? {}) as { description?: string; requirement?: string | string[] };
    const source = nodeId(node);
    const guard = guardName(t.guard);
    const target: TransitionTarget = {
      key: `${source} ${event || '(always)'} #${index}`, source, event: event || '(always)', index,
      ...(t.target?.length ? { target: t.target.map(nodeId).join(', ') } : {}),
      ...(guard ? { guard } : {}),
      ...(meta.description ? { description: meta.description } : {}),
      ...(meta.requirement ? { requirements: [meta.requirement].flat() } : {}),
      def: t,
    };
    transitions.push(target);
    byDef.set(t, target);
  };
  for (const node of allNodes(machine.root)) {
    if (node !== machine.root && node.type !== 'history') states.push(nodeId(node));
    for (const [event, list] of node.transitions) list.forEach((t, i) => add(node, event, t, i));
    (node.always ?? []).forEach((t, i) => add(node, '', t, i));
  }
  return { states, transitions, byDef };
}

/** The state nodes active in a snapshot (every level, parallel regions included). */
export function activeStates(snapshot: AnyMachineSnapshot): string[] {
  return (snapshot._nodes as AnyStateNode[]).filter((n) => n.path.length > 0).map(nodeId);
}

function matches(descriptor: string, type: string): boolean {
  if (descriptor === type || descriptor === '*') return true;
  return descriptor.endsWith('.*') && (type === descriptor.slice(0, -2) || type.startsWith(descriptor.slice(0, -1)));
}

/**
 * Which transitions one step took, and which guarded transitions it evaluated as false. xstate selects, for each
 * active atomic state, the first enabled candidate walking up its ancestors; candidates before the selected one had
 * their guard evaluated false. Eventless transitions taken after the step are inferred from the states they left and
 * entered.
 */
export function stepCoverage(targets: Targets, before: AnyMachineSnapshot, event: { type: string }, after: AnyMachineSnapshot) {
  const machine = before.machine as AnyStateMachine;
  const taken = machine.getTransitionData(before as never, event as never) as AnyTransitionDefinition[];
  const takenKeys = new Set(taken.map((t) => targets.byDef.get(t)?.key).filter((k): k is string => !!k));
  const guardFalse = new Set<string>();
  const atomics = (before._nodes as AnyStateNode[]).filter((n) => n.type === 'atomic' || n.type === 'final');
  for (const atomic of atomics) {
    outer: for (let node: AnyStateNode | undefined = atomic; node; node = node.parent) {
      for (const [descriptor, list] of node.transitions) {
        if (!matches(descriptor, event.type)) continue;
        for (const t of list) {
          if (taken.includes(t)) break outer;
          if (t.guard) guardFalse.add(`${targets.byDef.get(t)?.key} [guard false]`);
        }
      }
    }
  }
  const beforeActive = new Set(activeStates(before));
  const afterActive = new Set(activeStates(after));
  for (const t of targets.transitions) {
    if (t.event !== '(always)') continue;
    const src = t.source;
    const entered = taken.some((d) => (d.target ?? []).some((n) => nodeId(n) === src || src.startsWith(`${nodeId(n)}.`)));
    const tgt = t.def.target?.[0];
    if ((entered || beforeActive.has(src)) && !afterActive.has(src) && tgt && afterActive.has(nodeId(tgt))) takenKeys.add(t.key);
  }
  return { taken: [...takenKeys], guardFalse: [...guardFalse], active: [...afterActive] };
}
