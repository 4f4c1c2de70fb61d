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
export function isoTimes<T>(value: T): T {
  return convert(value) as T;
}

function convert(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(convert);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = typeof v === 'number' && Number.isFinite(v) && INSTANT.test(key) ? isoTime(v) : convert(v);
  }
  return out;
}
