import type { AnyStateMachine } from 'xstate';

/** The kind of a state in a diagram (W3C SCXML §3.3–3.7: atomic/compound `<state>`, `<parallel>`, `<final>`). */
export type DiagramStateType = 'atomic' | 'compound' | 'parallel' | 'final';

/** Metadata copied from a state or transition `meta` (the ISA-88 / ISA-18.2 reference and the diagram text). */
export type DiagramMeta = Record<string, unknown>;

/** One state of a machine; `id` is its path joined by dots, the machine root itself is not a state. */
export interface DiagramState {
  id: string;
  path: string[];
  parent?: string;
  type: DiagramStateType;
  /** True when this state is its parent's (or the machine's) initial state. */
  initial?: boolean;
  meta?: DiagramMeta;
}

/**
 * One transition. `source` is a state id, or the machine name for a handler defined on the machine root (it applies
 * in every state). `target` is absent for a targetless transition (self-handling or rejection); a transition into
 * several parallel regions has `target` = the first and `targets` = all of them. Event `*` is the wildcard.
 */
export interface DiagramTransition {
  source: string;
  target?: string;
  targets?: string[];
  event: string;
  guard?: string;
  actions: string[];
  meta?: DiagramMeta;
}

/** A machine definition as plain, deterministic JSON: what process engineers review as the design spec. */
export interface MachineModel {
  name: string;
  version: number | string;
  /** The xstate id of the machine root. */
  id: string;
  type: 'compound' | 'parallel';
  /** The initial top-level state of a compound root. */
  initial?: string;
  meta?: DiagramMeta;
  states: DiagramState[];
  transitions: DiagramTransition[];
}

/** The structural subset of an xstate v5 `StateNode` the walker reads. */
interface NodeLike {
  key: string;
  path: string[];
  type: string;
  meta?: unknown;
  states: Record<string, NodeLike>;
  initial?: { target: readonly NodeLike[] };
  transitions: Map<string, readonly TransitionLike[]>;
  always?: readonly TransitionLike[];
}

interface TransitionLike {
  eventType: string;
  target?: readonly NodeLike[];
  guard?: unknown;
  actions: readonly unknown[];
  meta?: unknown;
}

const idOf = (node: NodeLike): string => node.path.join('.');

/** A guard's readable name: its `type` (params are not shown); combinators as `and(a, b)`, `not(a)`, `in(X)`. */
export function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name: string; guards?: unknown[]; stateValue?: unknown };
    if (Array.isArray(fn.guards)) return `${fn.name}(${fn.guards.map((g) => guardName(g) ?? '?').join(', ')})`;
    if (fn.stateValue !== undefined) return `in(${JSON.stringify(fn.stateValue)})`;
    return fn.name || 'inline';
  }
  if (typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  return 'inline';
}

/**
 * An id for the synthetic state that wraps the machine root (Mermaid draws parallel regions only inside a composite
 * state; SCXML's `<scxml>` cannot hold transitions): `base` itself when no state already has it, else `base_machine`
 * (then `base_machine2`, …), so the wrapper never shares an id with one of its own descendants.
 */
export function wrapperId(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 1; ; n++) {
    const id = `${base}_machine${n === 1 ? '' : n}`;
    if (!taken.has(id)) return id;
  }
}

/** An action's name: the string itself, the `type` of a parameterized action, or a built-in's type. */
export function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (action && (typeof action === 'object' || typeof action === 'function')) {
    const a = action as { type?: unknown; name?: unknown };
    if (typeof a.type === 'string') return a.type;
    if (typeof a.name === 'string' && a.name) return a.name;
  }
  return 'inline';
}

const metaOf = (meta: unknown): { meta?: DiagramMeta } =>
  meta && typeof meta === 'object' && Object.keys(meta).length > 0 ? { meta: { ...(meta as DiagramMeta) } } : {};

function stateType(node: NodeLike): DiagramStateType | undefined {
  if (node.type === 'atomic' || node.type === 'compound' || node.type === 'parallel' || node.type === 'final') return node.type;
  return undefined; // history pseudo-states are not drawn
}

function transitionsOf(node: NodeLike, source: string): DiagramTransition[] {
  const out: DiagramTransition[] = [];
  const add = (event: string, t: TransitionLike) => {
    const targets = (t.target ?? []).map(idOf);
    const guard = guardName(t.guard);
    out.push({
      source,
      ...(targets.length > 0 ? { target: targets[0] } : {}),
      ...(targets.length > 1 ? { targets } : {}),
      event,
      ...(guard === undefined ? {} : { guard }),
      actions: t.actions.map(actionName),
      ...metaOf(t.meta),
    });
  };
  for (const [event, list] of node.transitions) for (const t of list) add(event, t);
  for (const t of node.always ?? []) add('', t);
  return out;
}

function walk(node: NodeLike, model: MachineModel, parent: string | undefined): void {
  const initial = new Set((node.initial?.target ?? []).map(idOf));
  for (const child of Object.values(node.states)) {
    const type = stateType(child);
    if (!type) continue;
    const id = idOf(child);
    model.states.push({
      id, path: [...child.path], ...(parent === undefined ? {} : { parent }), type,
      ...(initial.has(id) ? { initial: true } : {}), ...metaOf(child.meta),
    });
    model.transitions.push(...transitionsOf(child, id));
    walk(child, model, id);
  }
}

/**
 * Walks an xstate v5 machine definition into a plain JSON model, in document order (states depth-first, each state's
 * transitions in definition order), so the same definition always gives the same model (W3C SCXML document order).
 */
export function machineModel(name: string, version: number | string, machine: AnyStateMachine): MachineModel {
  const root = machine.root as unknown as NodeLike & { id: string };
  const initial = root.initial?.target[0];
  const model: MachineModel = {
    name, version, id: root.id, type: root.type === 'parallel' ? 'parallel' : 'compound',
    ...(root.type !== 'parallel' && initial ? { initial: idOf(initial) } : {}),
    ...metaOf(root.meta),
    states: [],
    transitions: transitionsOf(root, name),
  };
  walk(root, model, undefined);
  return model;
}
