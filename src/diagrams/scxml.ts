import { wrapperId, type DiagramMeta, type DiagramState, type DiagramTransition, type MachineModel } from './model.ts';
import { PhaselineError } from '../errors.ts';

/** Namespace of the Phaseline extension attributes (SCXML allows foreign-namespace attributes; W3C SCXML §3.1). */
export const PHASELINE_SCXML_NS = 'https://phaseline.dev/ns/scxml';

/** The datamodel function a named guard becomes: true when the event's `data.guards[name]` is `true`. */
export const SCXML_GUARD_FUNCTION = 'plGuard';

/**
 * Renders a machine model as a W3C SCXML 1.0 document with the ECMAScript datamodel (W3C SCXML §3, §B.2) that a
 * conforming interpreter loads and runs: `<state>`, `<parallel>`, `<final>` and `<transition event target cond>`.
 *
 * XState guards are functions of context and event that SCXML cannot see, so their outcome travels with the event: a
 * named guard `g` is the condition `plGuard(_event, 'g')`, true when the event carries `data.guards.g === true`;
 * `and`/`or`/`not` become `&&`/`||`/`!` and `in(…)` becomes SCXML's `In('…')`. The XState guard text stays in
 * `pl:guard`, the action names in `pl:actions` and `meta` in `pl:` attributes — foreign-namespace attributes, which a
 * conforming processor ignores (executable content in another namespace would not be ignorable). When the machine
 * root has handlers of its own, or is parallel, it is written as one `<state>`/`<parallel>` named after the machine
 * (suffixed when a state already has that id), because `<scxml>` itself cannot hold transitions.
 */
export function toScxml(model: MachineModel): string {
  const children = new Map<string | undefined, DiagramState[]>();
  for (const s of model.states) children.set(s.parent, [...(children.get(s.parent) ?? []), s]);
  const bySource = new Map<string, DiagramTransition[]>();
  for (const t of model.transitions) bySource.set(t.source, [...(bySource.get(t.source) ?? []), t]);
  const rootTransitions = bySource.get(model.name) ?? [];
  const wrap = model.type === 'parallel' || rootTransitions.length > 0;
  const rootId = wrapperId(model.name, new Set(model.states.map((s) => s.id)));
  const top = children.get(undefined) ?? [];
  const topInitial = model.initial ?? top[0]?.id;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:pl="${PHASELINE_SCXML_NS}" version="1.0" datamodel="ecmascript"` +
      ` name="${esc(model.name)}" initial="${esc(wrap ? rootId : topInitial ?? '')}" pl:version="${esc(String(model.version))}">`,
    '  <datamodel>',
    `    <data id="${SCXML_GUARD_FUNCTION}" expr="${esc(GUARD_FUNCTION)}"` +
      ' pl:description="a guard named g holds when the event carries data.guards.g === true (pl:guard keeps the XState guard)"/>',
    '  </datamodel>',
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
    for (const t of own) transitionLine(t, depth + 1);
    for (const k of kids) stateLines(k, depth + 1);
    lines.push(`${pad(depth)}</${tag}>`);
  };

  const transitionLine = (t: DiagramTransition, depth: number) => {
    const target = targetOrder(t.source, t.targets ?? (t.target ? [t.target] : [])).join(' ');
    const attrs = [
      t.event === '' ? '' : ` event="${esc(t.event)}"`,
      target ? ` target="${esc(target)}"` : '',
      t.guard ? ` cond="${condAttr(scxmlCondition(t.guard))}" pl:guard="${esc(t.guard)}"` : '',
      t.actions.length > 0 ? ` pl:actions="${esc(t.actions.join(' '))}"` : '',
      metaAttrs(t.meta),
    ].join('');
    lines.push(`${pad(depth)}<transition${attrs}/>`);
  };

  if (wrap) {
    const tag = model.type === 'parallel' ? 'parallel' : 'state';
    const initial = model.type === 'parallel' ? '' : ` initial="${esc(topInitial ?? '')}"`;
    lines.push(`  <${tag} id="${esc(rootId)}"${initial}${metaAttrs(model.meta)}>`);
    for (const t of rootTransitions) transitionLine(t, 2);
    for (const s of top) stateLines(s, 2);
    lines.push(`  </${tag}>`);
  } else {
    for (const s of top) stateLines(s, 1);
  }
  lines.push('</scxml>');
  return `${lines.join('\n')}\n`;
}

/** The value of `plGuard`: an ECMAScript function expression, kept to ES5 for any SCXML interpreter. */
const GUARD_FUNCTION =
  'function (event, name) { var guards = event && event.data && event.data.guards; return !!guards && guards[name] === true; }';

/**
 * An XState guard as the `guardName` text writes it (`name`, `and(a, b)`, `or(a, b)`, `not(a)`, `in(<state value>)`)
 * turned into an ECMAScript `cond` (W3C SCXML §5.9.1, §B.2.3: `In()` takes a state id, here the dotted path).
 */
export function scxmlCondition(guard: string): string {
  const parser = new GuardParser(guard);
  const expr = parser.expression();
  parser.end();
  return expr;
}

class GuardParser {
  private at = 0;

  constructor(private readonly text: string) {}

  expression(): string {
    this.skipSpace();
    const name = /^[A-Za-z_$][\w$.-]*/.exec(this.text.slice(this.at))?.[0];
    if (!name) throw this.error('a guard name');
    this.at += name.length;
    this.skipSpace();
    if (this.text[this.at] !== '(') return `${SCXML_GUARD_FUNCTION}(_event, '${jsString(name)}')`;
    this.at += 1;
    if (name === 'in') return this.inState();
    const args = [this.expression()];
    for (this.skipSpace(); this.text[this.at] === ','; this.skipSpace()) {
      this.at += 1;
      args.push(this.expression());
    }
    this.expect(')');
    if (name === 'not' && args.length === 1) return `!(${args[0]})`;
    if (name === 'and') return `(${args.join(' && ')})`;
    if (name === 'or') return `(${args.join(' || ')})`;
    throw new PhaselineError('ERR_DIAGRAM_GUARD', `guard ${JSON.stringify(this.text)}: no SCXML form for ${name}() with ${args.length} argument(s)`);
  }

  /** `in(<JSON state value>)`: each leaf of the value as `In('a.b')`, all of them holding. */
  private inState(): string {
    const start = this.at;
    let depth = 0;
    let quoted = false;
    for (; this.at < this.text.length; this.at++) {
      const c = this.text[this.at];
      if (quoted) {
        if (c === '\\') this.at += 1;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === '{' || c === '[') depth += 1;
      else if (c === '}' || c === ']') depth -= 1;
      else if (c === ')' && depth === 0) break;
    }
    const value: unknown = JSON.parse(this.text.slice(start, this.at));
    this.expect(')');
    const ids = leafPaths(value, []);
    if (ids.length === 0) throw new PhaselineError('ERR_DIAGRAM_GUARD', `guard ${JSON.stringify(this.text)}: in() names no state`);
    const calls = ids.map((id) => `In('${jsString(id)}')`);
    return calls.length === 1 ? calls[0]! : `(${calls.join(' && ')})`;
  }

  end(): void {
    this.skipSpace();
    if (this.at !== this.text.length) throw this.error('the end');
  }

  private expect(c: string): void {
    this.skipSpace();
    if (this.text[this.at] !== c) throw this.error(`"${c}"`);
    this.at += 1;
  }

  private skipSpace(): void {
    while (this.text[this.at] === ' ') this.at += 1;
  }

  private error(wanted: string): Error {
    return new PhaselineError('ERR_DIAGRAM_GUARD', `guard ${JSON.stringify(this.text)}: expected ${wanted} at offset ${this.at}`);
  }
}

/** The dotted ids of an xstate state value's leaves: `{ a: { b: 'c' } }` → `a.b.c`. */
function leafPaths(value: unknown, path: string[]): string[] {
  if (typeof value === 'string') {
    if (value.startsWith('#')) throw new PhaselineError('ERR_DIAGRAM_GUARD', `in(${JSON.stringify(value)}): a state id reference has no dotted path here`);
    return [[...path, value].join('.')];
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.flatMap(([k, v]) => (v && typeof v === 'object' && Object.keys(v).length === 0 ? [[...path, k].join('.')] : leafPaths(v, [...path, k])));
  }
  throw new PhaselineError('ERR_DIAGRAM_GUARD', `in(${JSON.stringify(value)}): not a state value`);
}

const jsString = (value: string): string => value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");

/**
 * The targets of a transition, the one sharing the fewest ancestors with the source first. `target` is a set (W3C SCXML
 * §3.5), so the order changes nothing for a conforming processor; SCION 4.3 takes the transition domain from the first
 * target only, and with this order it still exits every region a transition into several parallel regions leaves.
 */
function targetOrder(source: string, targets: string[]): string[] {
  const shared = (id: string) => {
    const a = source.split('.');
    const b = id.split('.');
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    return n;
  };
  return targets.map((id, i) => ({ id, i, n: shared(id) })).sort((x, y) => x.n - y.n || x.i - y.i).map((x) => x.id);
}

/** A `cond` value: escaped for a double-quoted attribute, apostrophes left as they are (they need no escape there). */
const condAttr = (expr: string): string => esc(expr).replace(/&apos;/g, "'");

const pad = (depth: number): string => '  '.repeat(depth);

/** `meta` as `pl:<key>` attributes; only string and number values (the ISA reference and the description). */
function metaAttrs(meta: DiagramMeta | undefined): string {
  if (!meta) return '';
  return Object.entries(meta)
    .filter(([k, v]) => /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) && k !== 'guard' && k !== 'actions' && (typeof v === 'string' || typeof v === 'number'))
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
