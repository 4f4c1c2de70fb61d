import type { DiagramMeta, DiagramState, DiagramTransition, MachineModel } from './model.ts';

/** Namespace of the Phaseline extension attributes and elements (SCXML allows foreign-namespace content). */
export const PHASELINE_SCXML_NS = 'https://phaseline.dev/ns/scxml';

/**
 * Renders a machine model as a W3C SCXML 1.0 document (W3C SCXML §3): `<state>`, `<parallel>`, `<final>` and
 * `<transition event target cond>`. A guard's name is written as `cond` (a named predicate, not a datamodel
 * expression), actions as `<pl:action name>` and `meta` as `pl:` attributes. When the machine root has handlers of
 * its own, the root is written as one `<state>`/`<parallel>` whose id is the machine name, because `<scxml>` itself
 * cannot hold transitions; a parallel root is always written as a `<parallel>`.
 */
export function toScxml(model: MachineModel): string {
  const children = new Map<string | undefined, DiagramState[]>();
  for (const s of model.states) children.set(s.parent, [...(children.get(s.parent) ?? []), s]);
  const bySource = new Map<string, DiagramTransition[]>();
  for (const t of model.transitions) bySource.set(t.source, [...(bySource.get(t.source) ?? []), t]);
  const rootTransitions = bySource.get(model.name) ?? [];
  const wrap = model.type === 'parallel' || rootTransitions.length > 0;
  const top = children.get(undefined) ?? [];
  const topInitial = model.initial ?? top[0]?.id;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:pl="${PHASELINE_SCXML_NS}" version="1.0"` +
      ` name="${esc(model.name)}" initial="${esc(wrap ? model.name : topInitial ?? '')}" pl:version="${esc(String(model.version))}">`,
  ];

  const stateLines = (s: DiagramState, depth: number) => {
    const tag = s.type === 'parallel' ? 'parallel' : s.type === 'final' ? 'final' : 'state';
    const kids = children.get(s.id) ?? [];
    const initial = s.type === 'compound' ? kids.find((k) => k.initial)?.id : undefined;
    const attrs = `id="${esc(s.id)}"${initial ? ` initial="${esc(initial)}"` : ''}${metaAttrs(s.meta)}`;
    const own = bySource.get(s.id) ?? [];
    if (kids.length === 0 && own.length === 0) {
      lines.push(`${pad(depth)}<${tag} ${attrs}/>`);
      return;
    }
    lines.push(`${pad(depth)}<${tag} ${attrs}>`);
    for (const t of own) transitionLines(t, depth + 1);
    for (const k of kids) stateLines(k, depth + 1);
    lines.push(`${pad(depth)}</${tag}>`);
  };

  const transitionLines = (t: DiagramTransition, depth: number) => {
    const target = (t.targets ?? (t.target ? [t.target] : [])).join(' ');
    const attrs = [
      t.event === '' ? '' : ` event="${esc(t.event)}"`,
      target ? ` target="${esc(target)}"` : '',
      t.guard ? ` cond="${esc(t.guard)}"` : '',
      metaAttrs(t.meta),
    ].join('');
    if (t.actions.length === 0) {
      lines.push(`${pad(depth)}<transition${attrs}/>`);
      return;
    }
    lines.push(`${pad(depth)}<transition${attrs}>`);
    for (const a of t.actions) lines.push(`${pad(depth + 1)}<pl:action name="${esc(a)}"/>`);
    lines.push(`${pad(depth)}</transition>`);
  };

  if (wrap) {
    const tag = model.type === 'parallel' ? 'parallel' : 'state';
    const initial = model.type === 'parallel' ? '' : ` initial="${esc(topInitial ?? '')}"`;
    lines.push(`  <${tag} id="${esc(model.name)}"${initial}${metaAttrs(model.meta)}>`);
    for (const t of rootTransitions) transitionLines(t, 2);
    for (const s of top) stateLines(s, 2);
    lines.push(`  </${tag}>`);
  } else {
    for (const s of top) stateLines(s, 1);
  }
  lines.push('</scxml>');
  return `${lines.join('\n')}\n`;
}

const pad = (depth: number): string => '  '.repeat(depth);

/** `meta` as `pl:<key>` attributes; only string and number values (the ISA reference and the description). */
function metaAttrs(meta: DiagramMeta | undefined): string {
  if (!meta) return '';
  return Object.entries(meta)
    .filter(([k, v]) => /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) && (typeof v === 'string' || typeof v === 'number'))
    .map(([k, v]) => ` pl:${k}="${esc(String(v))}"`)
    .join('');
}

/** XML attribute escaping (XML 1.0 §2.4), including line breaks so they survive attribute normalisation. */
export function esc(value: string): string {
  return value
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}
