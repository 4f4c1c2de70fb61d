import type { ActorEvent } from '../../../actors/envelope.ts';
import type { Candidate, Expectation, OracleQuery } from './adapter.ts';

/** Model time: far in the future, so the real host's wall-clock timers never fire during a model run. */
export const MODEL_T0 = Date.UTC(2100, 0, 1);

/** One requirement row in the shape every URS list in test/model/requirements/ shares. */
export interface Row {
  requirement: string;
  from: string;
  event: string;
  to: string;
  given?: string;
  /** Machine-input variants the row applies to; absent: every variant. */
  variants?: string[];
}

/** Flattens a URS list (`{ id, transitions: [{ from, event, to, given? }] }`) into rows. */
export function rowsOf<T extends { from: string; event: string; to: string; given?: string }>(
  list: { id: string; transitions: T[] }[],
  variantsOf: (t: T) => string[] | undefined = () => undefined,
): Row[] {
  return list.flatMap((r) => r.transitions.map((t) => {
    const variants = variantsOf(t);
    return { requirement: r.id, from: t.from, event: t.event, to: t.to, ...(t.given ? { given: t.given } : {}), ...(variants ? { variants } : {}) };
  }));
}

const applies = (row: Row, variant: string) => !row.variants || row.variants.includes(variant);

/** The rows that apply to a step: same state, event name, situation and machine-input variant. */
export function rowOracle(rows: Row[]): (q: OracleQuery) => Expectation[] {
  return (q) => rows
    .filter((r) => r.from === q.from && r.event === (q.candidate.name ?? q.candidate.event.type) && r.given === q.candidate.given && applies(r, q.variant))
    .map((r) => ({
      requirement: r.requirement,
      ...(r.to.startsWith('reject:') ? { reject: r.to.slice('reject:'.length) } : { to: r.to }),
      row: `${r.from} --${r.event}${r.given ? `(${r.given})` : ''}--> ${r.to}`,
    }));
}

/**
 * The input alphabet in a state: one input per (event, situation) some requirement row names for that state and
 * variant, built by `build`. Where the machine goes with it is the machine's business; the oracle checks it.
 */
export function rowCandidates(rows: Row[], from: string, variant: string, build: (event: string, given: string | undefined) => ActorEvent | undefined): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const r of rows) {
    if (r.from !== from || !applies(r, variant)) continue;
    const key = `${r.event}|${r.given ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const event = build(r.event, r.given);
    if (event) out.push({ event, ...(r.event !== event.type ? { name: r.event } : {}), ...(r.given ? { given: r.given } : {}) });
  }
  return out;
}
