/**
 * How the public views show time: one representation, ISO 8601 UTC with milliseconds. Machines keep epoch
 * milliseconds (DESIGN.md principle 7); only what a view hands out is converted, here and nowhere else.
 */

/** A field that holds an instant: `at`, or a name ending in `At`, `Since` or `Until` (durations end in `Ms`). */
const INSTANT = /^(?:at|.+At|.+Since|.+Until)$/;

/** An instant as the API answers it (21 CFR 11.50(a)(2) date and time of signing; ALCOA+ "contemporaneous"). */
export function isoTime(ms: number): string;
export function isoTime(ms: number | undefined): string | undefined;
export function isoTime(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/**
 * A copy of a view with every instant field (see {@link INSTANT}) that holds epoch milliseconds turned into
 * {@link isoTime}, at any depth; other values, strings already ISO included, are left as they are (21 CFR 11.10(e)).
 */
export function isoTimes<T>(value: T): IsoTimes<T> {
  return convert(value) as IsoTimes<T>;
}

/** The names {@link INSTANT} matches, as a type (`at`, `…At`, `…Since`, `…Until`). */
type InstantKey = 'at' | `${string}${'A' | 'S' | 'U'}${'t' | 'ince' | 'ntil'}`;

/** The type of {@link isoTimes}' result: every instant field that holds a number holds its ISO string instead. */
export type IsoTimes<T> = T extends readonly (infer E)[]
  ? IsoTimes<E>[]
  : T extends object
    ? { [K in keyof T]: K extends InstantKey ? (T[K] extends number ? string : Exclude<T[K], number> | (number extends T[K] ? string : never)) : IsoTimes<T[K]> }
    : T;

function convert(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(convert);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = typeof v === 'number' && Number.isFinite(v) && INSTANT.test(key) ? isoTime(v) : convert(v);
  }
  return out;
}
