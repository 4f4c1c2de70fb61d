import elkjs from 'elkjs/lib/elk.bundled.js';
import type { ELK, ElkExtendedEdge, ElkLabel, ElkNode } from 'elkjs/lib/elk-api.js';
import type { DiagramState, DiagramTransition, MachineModel } from './model.ts';
import { FONT, metaClause, textWidth, transitionLabel } from './svg-text.ts';

/** A point in SVG user units. */
export interface Point { x: number; y: number }

/** A box in SVG user units (top-left corner and size). */
export interface Box { x: number; y: number; width: number; height: number }

/** How a state is drawn: a region is a child of a parallel state (UML orthogonal region), drawn as a dashed box. */
export type StateKind = 'atomic' | 'compound' | 'parallel' | 'region' | 'final';

/** A state with its box, its name and the standard clause from its `meta` (e.g. `ISA-88 §5.7.2`). */
export interface PlacedState extends Box { state: DiagramState; kind: StateKind; name: string; clause?: string }

/** An edge: a transition (`index` into `model.transitions`) or the arrow from an initial-state marker. */
export interface PlacedEdge {
  kind: 'transition' | 'initial';
  index?: number;
  source: string;
  target: string;
  points: Point[];
  label?: Box & { text: string };
}

/** A transition not drawn as an edge (targetless, or on the machine root), listed in the side panel; or a heading. */
export interface PanelRow { x: number; y: number; text: string; index?: number }

/** A machine model laid out by ELK (layered, hierarchical), plus the side panel, in absolute SVG coordinates. */
export interface DiagramLayout {
  width: number;
  height: number;
  states: PlacedState[];
  initials: Array<Point & { parent?: string }>;
  edges: PlacedEdge[];
  panel: PanelRow[];
}

/** The height of the title and legend band above the graph. */
export const HEADER_HEIGHT = 64;
const MARGIN = 16;
const INITIAL_SIZE = 12;
const ROW = 13;

function kindOf(s: DiagramState, byId: Map<string, DiagramState>, model: MachineModel): StateKind {
  const parentType = s.parent === undefined ? model.type : byId.get(s.parent)?.type;
  if (parentType === 'parallel' && s.type === 'compound') return 'region';
  return s.type;
}

const nodeId = (id: string) => `s:${id}`;
const initialId = (parent: string | undefined) => `i:${parent ?? ''}`;
const isDrawn = (t: DiagramTransition, byId: Map<string, DiagramState>) => t.target !== undefined && byId.has(t.source);

function elkNode(s: PlacedState, children: ElkNode[]): ElkNode {
  if (s.kind === 'atomic' || s.kind === 'final') return { id: nodeId(s.state.id), width: s.width, height: s.height };
  const top = s.kind === 'region' ? 26 : s.clause ? 44 : 32;
  return {
    id: nodeId(s.state.id), children,
    layoutOptions: { 'elk.padding': `[top=${top},left=14,bottom=14,right=14]` },
  };
}

/** The ELK graph: states nest in their parents, each non-parallel container gets an initial-state marker. */
function elkGraph(model: MachineModel, placed: Map<string, PlacedState>): ElkNode {
  const byId = new Map(model.states.map((s) => [s.id, s]));
  const edges: ElkExtendedEdge[] = [];
  const level = (parent: string | undefined, parallel: boolean): ElkNode[] => {
    const kids = model.states.filter((s) => s.parent === parent);
    const nodes = kids.map((s) => elkNode(placed.get(s.id)!, level(s.id, s.type === 'parallel')));
    const initial = kids.find((s) => s.initial);
    // Unseen edges stack parallel regions one under the other (UML regions split by dashed lines), not in a wide row.
    if (parallel) {
      kids.slice(1).forEach((s, i) => edges.push({ id: `order:${s.id}`, sources: [nodeId(kids[i]!.id)], targets: [nodeId(s.id)] }));
    }
    if (!parallel && initial) {
      nodes.unshift({ id: initialId(parent), width: INITIAL_SIZE, height: INITIAL_SIZE });
      edges.push({ id: `init:${parent ?? ''}`, sources: [initialId(parent)], targets: [nodeId(initial.id)] });
    }
    return nodes;
  };
  const children = level(undefined, model.type === 'parallel');
  model.transitions.forEach((t, i) => {
    if (!isDrawn(t, byId)) return;
    const text = transitionLabel(t);
    const label: ElkLabel = { text, width: textWidth(text, FONT.edge) + 4, height: FONT.edge + 4 };
    (t.targets ?? [t.target!]).forEach((target, k) => {
      edges.push({ id: `t:${i}:${k}`, sources: [nodeId(t.source)], targets: [nodeId(target)], labels: [{ ...label }] });
    });
  });
  return {
    id: 'root', children, edges,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.padding': `[top=${HEADER_HEIGHT + MARGIN},left=${MARGIN},bottom=${MARGIN},right=${MARGIN}]`,
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeEdge': '10',
      'elk.spacing.edgeNode': '14',
      'elk.spacing.edgeLabel': '3',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.layered.spacing.edgeNodeBetweenLayers': '14',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      // Definition order (the ISA-88 order of the states) decides which edges point back, so Idle stays on top.
      'elk.layered.cycleBreaking.strategy': 'MODEL_ORDER',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
    },
  };
}

/** Sizes each state from its text (containers are sized by ELK around their children). */
function sizeStates(model: MachineModel): Map<string, PlacedState> {
  const byId = new Map(model.states.map((s) => [s.id, s]));
  const placed = new Map<string, PlacedState>();
  for (const s of model.states) {
    const name = s.path[s.path.length - 1]!;
    const clause = metaClause(s.meta);
    const width = Math.max(textWidth(name, FONT.name, true), clause ? textWidth(clause, FONT.clause) : 0) + 24;
    placed.set(s.id, {
      state: s, kind: kindOf(s, byId, model), name, ...(clause ? { clause } : {}),
      x: 0, y: 0, width: Math.max(width, 84), height: clause ? 42 : 30,
    });
  }
  return placed;
}

function collect(node: ElkNode, placed: Map<string, PlacedState>, initials: DiagramLayout['initials']): void {
  for (const child of node.children ?? []) {
    const box = { x: child.x ?? 0, y: child.y ?? 0, width: child.width ?? 0, height: child.height ?? 0 };
    if (child.id.startsWith('i:')) {
      const parent = child.id.slice(2);
      initials.push({ x: box.x + box.width / 2, y: box.y + box.height / 2, ...(parent ? { parent } : {}) });
    } else {
      Object.assign(placed.get(child.id.slice(2))!, box);
    }
    collect(child, placed, initials);
  }
}

function edgesOf(graph: ElkNode, model: MachineModel): PlacedEdge[] {
  return (graph.edges ?? []).filter((e) => !e.id.startsWith('order:')).map((e) => {
    const points = (e.sections ?? []).flatMap((s, n) => [...(n === 0 ? [s.startPoint] : []), ...(s.bendPoints ?? []), s.endPoint]);
    const [, index] = e.id.split(':');
    const l = e.labels?.[0];
    const kind = e.id.startsWith('t:') ? 'transition' as const : 'initial' as const;
    return {
      kind, ...(kind === 'transition' ? { index: Number(index) } : {}),
      source: e.sources[0]!.slice(2), target: e.targets[0]!.slice(2), points: points.map(({ x, y }) => ({ x, y })),
      ...(l ? { label: { text: l.text ?? transitionLabel(model.transitions[Number(index)]!), x: l.x ?? 0, y: l.y ?? 0, width: l.width ?? 0, height: l.height ?? 0 } } : {}),
    };
  });
}

/** The rows of the side panel: handlers on the machine root first, then each state's targetless transitions. */
function panelRows(model: MachineModel, byId: Map<string, DiagramState>): Array<{ text: string; index?: number }> {
  const groups = new Map<string, Array<{ text: string; index: number }>>();
  model.transitions.forEach((t, index) => {
    if (isDrawn(t, byId)) return;
    const heading = byId.has(t.source) ? `${t.source} — handled without a state change` : `in every state (${t.source})`;
    const actions = t.actions.length > 0 ? ` / ${t.actions.join(', ')}` : '';
    const target = t.target ? ` → ${(t.targets ?? [t.target]).join(', ')}` : '';
    groups.set(heading, [...(groups.get(heading) ?? []), { text: `${transitionLabel(t)}${target}${actions}`, index }]);
  });
  return [...groups].flatMap(([heading, rows]) => [{ text: heading }, ...rows]);
}

/** Flows the panel rows into columns right of the graph, each at most as tall as the graph (or 480). */
function placePanel(rows: Array<{ text: string; index?: number }>, left: number, graphHeight: number): { rows: PanelRow[]; right: number; bottom: number } {
  const top = HEADER_HEIGHT + MARGIN;
  const limit = top + Math.max(graphHeight - top - MARGIN, 480);
  const out: PanelRow[] = [];
  let x = left;
  let y = top;
  let columnWidth = 0;
  let bottom = top;
  rows.forEach((row, n) => {
    const heading = row.index === undefined;
    const needed = heading ? ROW * 2 + 6 : ROW;
    if (y + needed > limit && y > top) {
      x += columnWidth + 24;
      y = top;
      columnWidth = 0;
    }
    if (heading && n > 0 && y > top) y += 6;
    y += ROW;
    out.push({ x, y, text: row.text, ...(heading ? {} : { index: row.index }) });
    columnWidth = Math.max(columnWidth, textWidth(row.text, heading ? FONT.heading : FONT.panel, heading) + (heading ? 0 : 10));
    bottom = Math.max(bottom, y);
  });
  return { rows: out, right: out.length > 0 ? x + columnWidth : left - 24, bottom };
}

let elk: ELK | undefined;

/**
 * Lays a machine model out with ELK's layered algorithm over the whole hierarchy (`INCLUDE_CHILDREN`), so edges
 * between nested states are routed together; the same model always gives the same layout (ELK is deterministic).
 */
export async function layoutMachine(model: MachineModel): Promise<DiagramLayout> {
  const placed = sizeStates(model);
  // elkjs is CommonJS typed as an ES default export; its constructor is both `module.exports` and `.default`.
  elk ??= new elkjs.default();
  const graph = await elk.layout(elkGraph(model, placed));
  const initials: DiagramLayout['initials'] = [];
  collect(graph, placed, initials);
  const byId = new Map(model.states.map((s) => [s.id, s]));
  const graphWidth = Math.max(graph.width ?? 0, 320);
  const graphHeight = graph.height ?? 0;
  const panel = placePanel(panelRows(model, byId), graphWidth + 16, graphHeight);
  return {
    width: Math.ceil(Math.max(graphWidth, panel.right + MARGIN)),
    height: Math.ceil(Math.max(graphHeight, panel.bottom + MARGIN)),
    states: [...placed.values()], initials, edges: edgesOf(graph, model), panel: panel.rows,
  };
}
