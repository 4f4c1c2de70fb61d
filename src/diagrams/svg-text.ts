import type { DiagramMeta, DiagramTransition } from './model.ts';

/** Font sizes (px) shared by layout (to size boxes) and rendering. */
export const FONT = { title: 16, name: 13, clause: 10, edge: 10, panel: 10, heading: 11 } as const;
/**
 * A deterministic width estimate for a sans-serif string (no browser to measure with); errs wide so text fits.
 */
export function textWidth(text: string, size: number, bold = false): number {
  let em = 0;
  for (const ch of text) {
    if ('iljtf.,:;|!\'()[] '.includes(ch)) em += 0.34;
    else if ('mwMW@'.includes(ch)) em += 0.9;
    else if (ch >= 'A' && ch <= 'Z') em += 0.7;
    else em += 0.58;
  }
  return Math.ceil(em * size * (bold ? 1.08 : 1));
}

const CLAUSE_NAMES: Record<string, string> = { isa88: 'ISA-88 §', isa18: 'ISA-18.2 §', part11: '21 CFR §', annex11: 'Annex 11 §' };

/** The standard clause(s) in a `meta`: every entry but `description`, e.g. `ISA-88 §5.7.2 · URS-EM-001`. */
export function metaClause(meta: DiagramMeta | undefined): string | undefined {
  const parts = Object.entries(meta ?? {})
    .filter(([key, value]) => key !== 'description' && (typeof value === 'string' || typeof value === 'number'))
    .map(([key, value]) => (CLAUSE_NAMES[key] ? `${CLAUSE_NAMES[key]}${value}` : String(value)));
  return parts.length > 0 ? parts.join(' · ') : undefined;
}

/** An edge label: the event (`always` for an eventless transition) and `[guard]` when guarded. */
export function transitionLabel(t: DiagramTransition): string {
  const event = t.event === '' ? 'always' : t.event;
  return t.guard ? `${event} [${t.guard}]` : event;
}
