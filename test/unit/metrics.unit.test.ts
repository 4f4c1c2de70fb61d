import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { METRICS, Metrics, type MetricDef } from '../../src/metrics.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const catalogue = Object.entries(METRICS) as Array<[string, MetricDef]>;

/** Every `.ts` file of the product (not the tests). */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    if (statSync(path).isDirectory()) return f === 'node_modules' ? [] : sources(path);
    return f.endsWith('.ts') ? [path] : [];
  });
}

/** `metrics.inc('name'`, `m.set(\n 'name'`, `ports.count('name'` …: each metric name the product passes, with its kind. */
function namesUsed(): Array<{ name: string; kind: 'counter' | 'gauge'; file: string }> {
  const out: Array<{ name: string; kind: 'counter' | 'gauge'; file: string }> = [];
  for (const file of ['src', 'actors', 'nats'].flatMap((d) => sources(join(ROOT, d)))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\.(inc|set|count|describe)\(\s*'(phaseline_[a-z0-9_]+)'(?:,\s*'(counter|gauge)')?/g)) {
      const kind = m[1] === 'set' ? 'gauge' : m[1] === 'describe' ? (m[3] as 'counter' | 'gauge') : 'counter';
      out.push({ name: m[2]!, kind, file: relative(ROOT, file) });
    }
  }
  return out;
}

describe('the metric catalogue (src/metrics.ts)', () => {
  it('declares every metric the product sets or counts, with the type it is used as', () => {
    const used = namesUsed();
    expect(used.length).toBeGreaterThan(50);
    const wrong = used.filter((u) => (METRICS as Record<string, MetricDef>)[u.name]?.type !== u.kind);
    expect(wrong.map((u) => `${u.file}: ${u.name} (${u.kind})`)).toEqual([]);
  });

  it('declares no metric nothing uses', () => {
    const used = new Set(namesUsed().map((u) => u.name));
    expect(catalogue.map(([name]) => name).filter((n) => !used.has(n))).toEqual([]);
  });

  it('follows the Prometheus naming conventions: _total on counters only, base units, snake_case', () => {
    for (const [name, def] of catalogue) {
      expect(name, name).toMatch(/^phaseline_[a-z][a-z0-9_]*[a-z0-9]$/);
      expect(name.endsWith('_total'), `${name} is a ${def.type}`).toBe(def.type === 'counter');
      expect(name, `${name}: a base unit (seconds, bytes, ratio), not an abbreviation`).not.toMatch(/_(ms|us|ns|sec|secs|min|mins|hr|ppm|kb|mb|pct|percent|milliseconds)(_|$)/);
      expect(def.help.length, `${name} has help text`).toBeGreaterThan(10);
      for (const l of def.labels) expect(l).toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });
});

describe('Metrics', () => {
  it('lists every declared family from the start, counters without labels at zero, known label sets at zero', () => {
    const text = new Metrics().render();
    for (const [name, def] of catalogue) {
      expect(text).toContain(`# HELP ${name} ${def.help}\n# TYPE ${name} ${def.type}\n`);
      if (def.type === 'counter' && def.labels.length === 0) expect(text).toContain(`\n${name} 0\n`);
    }
    expect(text).toContain('\nphaseline_http_idempotency_refused_total{reason="mismatch"} 0\n');
    // A gauge is not invented before it is measured.
    expect(text).not.toMatch(/\nphaseline_audit_chain_seq /);
  });

  it('keeps the catalogue help over a caller\'s own and counts from zero', () => {
    const m = new Metrics();
    m.describe('phaseline_auth_logins_total', 'counter', 'something else');
    m.inc('phaseline_auth_logins_total', { result: 'ok' }, 1, 'yet another');
    m.inc('phaseline_auth_logins_total', { result: 'ok' });
    const text = m.render();
    expect(text).toContain('# HELP phaseline_auth_logins_total Login attempts by result\n');
    expect(text).toContain('phaseline_auth_logins_total{result="ok"} 2\n');
    expect(m.get('phaseline_auth_logins_total', { result: 'ok' })).toBe(2);
  });

  it('escapes label values and HELP text, and writes non-finite values as the text format spells them', () => {
    const m = new Metrics({});
    m.set('x_seconds', { a: 'q"b\\c\nd' }, Infinity, 'back\\slash\nnew line');
    m.set('x_seconds', { a: 'n' }, Number.NaN);
    m.set('x_seconds', { a: 'm' }, -Infinity);
    expect(m.render()).toBe([
      '# HELP x_seconds back\\\\slash\\nnew line',
      '# TYPE x_seconds gauge',
      'x_seconds{a="q\\"b\\\\c\\nd"} +Inf',
      'x_seconds{a="n"} NaN',
      'x_seconds{a="m"} -Inf',
      '',
    ].join('\n'));
  });
});
