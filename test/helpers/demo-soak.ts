import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { connectNats } from '../../src/broker/connect.ts';
import { startPhaseline, type PhaselineProcess } from './phaseline-process.ts';
import { atLeast, brief, deadLetterCounts, logLines, storedDeadLetters } from './product-health.ts';

/** What a demo soak measured (printed at its end; the README keeps the last long run's). */
export interface SoakFigures {
  durationMs: number;
  /** Batch frames on R101: opened, and closed (released) during the run. */
  batches: { opened: number; closed: number };
  /** R101 phase transitions in the audit trail. */
  phaseTransitions: number;
  audit: { ok: boolean; checked: number; firstBad?: unknown };
  deadLetters: { metrics: { labels: string; value: number }[]; stored: number; samples: unknown[] };
  errorLines: string[];
  warnLines: { line: string; count: number }[];
  exitCode: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the demo as `npm start` does (PLC simulator, OPC UA edge, demo MES on R101) for `durationMs` in a fresh state
 * directory, then gathers its figures: batches, audit verification, dead letters (metrics and the DEADLETTER stream),
 * error and warning lines on stderr, and the exit code of a clean stop.
 */
export async function runDemoSoak(durationMs: number, onProgress?: (line: string) => void): Promise<SoakFigures> {
  const varDir = await mkdtemp(join(tmpdir(), 'phaseline-soak-'));
  let rt: PhaselineProcess | undefined;
  let nc: NatsConnection | undefined;
  try {
    rt = await startPhaseline(varDir);
    const exited = new Promise<void>((r) => rt!.proc.once('exit', () => r()));
    let gone = false;
    void exited.then(() => (gone = true));
    const start = Date.now();
    for (let next = start + 60_000; Date.now() - start < durationMs && !gone;) {
      await Promise.race([sleep(Math.min(5_000, durationMs - (Date.now() - start))), exited]);
      if (Date.now() >= next) {
        next += 60_000;
        onProgress?.(`soak ${Math.round((Date.now() - start) / 1000)} s: ${atLeast(logLines(rt.stderr()), 50).length} error lines`);
      }
    }
    if (gone) throw new Error(`the product exited during the soak; stderr tail:\n${rt.stderr().slice(-4000)}`);
    const elapsed = Date.now() - start;
    const qa = await rt.token('qa');
    const frames = (await rt.api('GET', '/api/v1/frames?unit=R101&kind=batch', { token: qa })).body as { end?: string }[];
    const trail = (await rt.api('GET', '/api/v1/audit?target=phase:R101.CHARGE&limit=10000', { token: qa })).body as { action: string }[];
    const trail2 = (await rt.api('GET', '/api/v1/audit?target=phase:R101.HEAT&limit=10000', { token: qa })).body as { action: string }[];
    const verify = (await rt.api('GET', '/api/v1/audit/verify', { token: qa })).body as SoakFigures['audit'];
    const metrics = (await rt.api('GET', '/metrics')).body as string;
    nc = await connectNats(rt.natsUrl, { name: 'soak', ...(await rt.natsUser('runtime')) });
    const stored = await storedDeadLetters(nc);
    await nc.close();
    nc = undefined;
    const exitCode = await rt.stop();
    const lines = logLines(rt.stderr());
    const warns = new Map<string, number>();
    for (const l of lines.filter((x) => x.level === 40)) warns.set(brief(l), (warns.get(brief(l)) ?? 0) + 1);
    return {
      durationMs: elapsed,
      batches: { opened: frames.length, closed: frames.filter((f) => typeof f.end === 'string').length },
      phaseTransitions: [...trail, ...trail2].filter((e) => e.action === 'phase.transition').length,
      audit: { ok: verify.ok, checked: verify.checked, ...(verify.firstBad ? { firstBad: verify.firstBad } : {}) },
      deadLetters: { metrics: deadLetterCounts(metrics), stored: stored.length, samples: stored.slice(0, 5) },
      errorLines: atLeast(lines, 50).map(brief),
      warnLines: [...warns].map(([line, count]) => ({ line, count })).sort((a, b) => b.count - a.count),
      exitCode,
    };
  } finally {
    await nc?.close().catch(() => undefined);
    if (rt && rt.proc.exitCode === null && rt.proc.signalCode === null) await rt.stop().catch(() => undefined);
    await rm(varDir, { recursive: true, force: true });
  }
}

/** The figures as the README and the test output show them. */
export function formatFigures(f: SoakFigures): string {
  const dead = f.deadLetters.metrics.filter((c) => c.value > 0);
  return [
    `demo soak: ${(f.durationMs / 1000).toFixed(0)} s`,
    `  batches on R101: ${f.batches.opened} opened, ${f.batches.closed} closed; R101 phase transitions: ${f.phaseTransitions}`,
    `  audit: ${f.audit.checked} entries, verify ${f.audit.ok ? 'ok' : `FAILED ${JSON.stringify(f.audit.firstBad)}`}`,
    `  dead letters: ${dead.length === 0 ? 0 : dead.map((c) => `${c.labels} ${c.value}`).join(', ')} in /metrics, ${f.deadLetters.stored} stored`,
    `  error lines: ${f.errorLines.length}${f.errorLines.length ? `: ${f.errorLines.slice(0, 10).join(' | ')}` : ''}`,
    `  warn lines: ${f.warnLines.reduce((n, w) => n + w.count, 0)}${f.warnLines.map((w) => `\n    ${w.count} × ${w.line}`).join('')}`,
    `  exit code on SIGTERM: ${f.exitCode}`,
  ].join('\n');
}

/**
 * The demo soak as a test (issue 8 item 7), the same for the normal suite's short run and `npm run test:long`'s ten
 * minutes: zero dead letters, zero error lines, batches progressed on R101, an intact audit trail, a clean stop.
 */
export function defineDemoSoak(durationMs: number): void {
  describe(`the demo runs for ${Math.round(durationMs / 1000)} s (npm start)`, () => {
    it('with zero dead letters and zero error-level log lines, batches progressing on R101 and the audit trail intact', async () => {
      const f = await runDemoSoak(durationMs, (line) => console.log(line));
      console.log(formatFigures(f));
      expect(f.deadLetters.metrics.filter((c) => c.value > 0)).toEqual([]);
      expect(f.deadLetters.samples).toEqual([]);
      expect(f.errorLines).toEqual([]);
      expect(f.batches.opened).toBeGreaterThanOrEqual(1);
      // About one batch a minute in the demo; a loaded machine may run slower, never this much slower.
      expect(f.batches.closed).toBeGreaterThanOrEqual(Math.floor(durationMs / 150_000));
      expect(f.phaseTransitions).toBeGreaterThanOrEqual(2);
      expect(f.audit).toMatchObject({ ok: true });
      expect(f.audit.checked).toBeGreaterThan(10);
      expect(f.exitCode).toBe(0);
    }, durationMs + 240_000);
  });
}
