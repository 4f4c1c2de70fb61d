import { wrapperId, type DiagramState, type DiagramTransition, type MachineModel } from './model.ts';

/**
 * Renders a machine model as a Mermaid `stateDiagram-v2`: compound and parallel states nest, parallel regions are
 * separated by `--`, `[*] -->` marks initial states and `X --> [*]` final ones, and each targeted transition is drawn
 * as `Source --> Target : EVENT [guard]`. Every state box carries the state's name, with its `meta.description` below
 * (on a composite state, which Mermaid labels once, the description is a `%%` comment); a parallel machine is wrapped
 * in one composite state whose id no region shares.
 *
 * Targetless transitions (self-handling, rejections, the `*` wildcard) and handlers on the machine root (which apply
 * in every state) are not drawn: they would add an edge to every state and hide the ISA-88 graph. They are kept as
 * `%%` comment lines at the end, so the text stays complete; the JSON and SCXML formats carry them as transitions.
 */
export function toMermaid(model: MachineModel): string {
  const lines = ['stateDiagram-v2', `%% ${model.name} v${model.version}`];
  const children = childrenByParent(model.states);
  const byId = new Map(model.states.map((s) => [s.id, s]));
  const indent = (depth: number) => '    '.repeat(depth);
  const drawn: DiagramTransition[] = [];
  const notes: DiagramTransition[] = [];
  for (const t of model.transitions) {
    if (isDrawn(t, byId)) drawn.push(...fromLeaves(t, model, children));
    else notes.push(t);
  }

  const renderLevel = (parent: string | undefined, depth: number, parallel: boolean) => {
    const kids = children.get(parent) ?? [];
    kids.forEach((s, i) => {
      if (parallel && i > 0) lines.push(`${indent(depth)}--`);
      renderState(s, depth);
    });
    if (!parallel) {
      for (const s of kids.filter((k) => k.initial)) lines.push(`${indent(depth)}[*] --> ${nodeId(s.id)}`);
    }
    for (const s of kids.filter((k) => k.type === 'final')) lines.push(`${indent(depth)}${nodeId(s.id)} --> [*]`);
    // Edges are written in the innermost state that encloses both ends, so Mermaid nests them correctly.
    for (const t of drawn.filter((d) => enclosing(d, byId) === parent)) {
      for (const target of t.targets ?? [t.target!]) lines.push(`${indent(depth)}${edge(t, target)}`);
    }
  };

  const renderState = (s: DiagramState, depth: number) => {
    const id = nodeId(s.id);
    const label = s.path[s.path.length - 1]!;
    const description = typeof s.meta?.description === 'string' ? s.meta.description : undefined;
    const composite = s.type === 'compound' || s.type === 'parallel';
    // A described state shows only its description unless aliased with its name; a composite state cannot carry
    // both (Mermaid: "group nodes can only have label"), so its description stays a comment.
    if (label !== id || (description && !composite)) lines.push(`${indent(depth)}state "${text(label)}" as ${id}`);
    if (description) lines.push(`${indent(depth)}${composite ? '%% ' : ''}${id} : ${text(description)}`);
    if (composite) {
      lines.push(`${indent(depth)}state ${id} {`);
      renderLevel(s.id, depth + 1, s.type === 'parallel');
      lines.push(`${indent(depth)}}`);
    }
  };

  if (model.type === 'parallel') {
    // Mermaid draws `--` regions only inside a composite state: wrap the machine root in one. Its id must differ from
    // every state's (a region named like the machine would make the wrapper its own parent, which Mermaid refuses).
    const root = wrapperId(nodeId(model.name), new Set(model.states.map((s) => nodeId(s.id))));
    if (root !== nodeId(model.name)) lines.push(`    state "${text(model.name)}" as ${root}`);
    lines.push(`    [*] --> ${root}`, `    state ${root} {`);
    renderLevel(undefined, 2, true);
    lines.push('    }');
  } else {
    renderLevel(undefined, 1, false);
  }
  for (const t of notes) lines.push(`    %% ${t.source} : ${label(t)}${t.target ? ` -> ${t.target}` : ' (targetless)'}`);
  return `${lines.join('\n')}\n`;
}

function childrenByParent(states: DiagramState[]): Map<string | undefined, DiagramState[]> {
  const map = new Map<string | undefined, DiagramState[]>();
  for (const s of states) map.set(s.parent, [...(map.get(s.parent) ?? []), s]);
  return map;
}

/**
 * A handler on a compound state that targets its own descendants is drawn from each child that does not handle the
 * event itself (a child's own transitions take priority), since Mermaid cannot draw an edge into its own cluster.
 */
function fromLeaves(
  t: DiagramTransition, model: MachineModel, children: Map<string | undefined, DiagramState[]>,
): DiagramTransition[] {
  const kids = children.get(t.source) ?? [];
  const inside = (t.targets ?? [t.target!]).every((id) => id.startsWith(`${t.source}.`));
  if (kids.length === 0 || !inside) return [t];
  return kids
    .filter((k) => !model.transitions.some((x) => x.source === k.id && x.event === t.event))
    .flatMap((k) => fromLeaves({ ...t, source: k.id }, model, children));
}

function isDrawn(t: DiagramTransition, byId: Map<string, DiagramState>): boolean {
  return t.target !== undefined && byId.has(t.source);
}

/** The id of the innermost state that is a proper ancestor of the source and of every target (undefined: the top). */
function enclosing(t: DiagramTransition, byId: Map<string, DiagramState>): string | undefined {
  const ends = [t.source, ...(t.targets ?? [t.target!])];
  const chains = ends.map((id) => ancestors(id, byId));
  let common: string | undefined;
  for (let i = 0; ; i++) {
    const at = chains[0]![i];
    if (at === undefined || !chains.every((c) => c[i] === at && c.length > i + 1)) return common;
    common = at;
  }
}

/** The ids from the top-level state down to `id` itself. */
function ancestors(id: string, byId: Map<string, DiagramState>): string[] {
  const chain: string[] = [];
  for (let s = byId.get(id); s; s = s.parent === undefined ? undefined : byId.get(s.parent)) chain.unshift(s.id);
  return chain;
}

function label(t: DiagramTransition): string {
  const event = t.event === '' ? 'always' : t.event;
  return text(t.guard ? `${event} [${t.guard}]` : event);
}

function edge(t: DiagramTransition, target: string): string {
  return `${nodeId(t.source)} --> ${nodeId(target)} : ${label(t)}`;
}

/** A Mermaid state id: the dotted path with every other character replaced by `_` (Mermaid ids are global). */
function nodeId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Text safe in a Mermaid label: no line breaks, `:`, `;` or `#`, which end, split or escape a statement. */
function text(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').replace(/\s*[:;]\s*/g, ' - ').replace(/#/g, 'no. ').replace(/"/g, "'");
}
