import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from '../../helpers/bdd.ts';
import { startTestNats, type TestNats } from '../../helpers/nats.ts';
import type { ModelAdapter } from './adapter.ts';
import { check, type ModelResult } from './check.ts';
import { plan as generate } from './generate.ts';
import { runOnHost } from './host-run.ts';

/** Where each machine's result goes for `npm run validate` (Deno runs write beside, not over, the Node results). */
export const RUNS_DIR = fileURLToPath(new URL(`../../../var/validation/${'Deno' in globalThis ? 'deno-runs' : 'runs'}`, import.meta.url));

const runtime = (): string => {
  const d = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return d ? `deno ${d.version.deno}` : `node ${process.version}`;
};

/**
 * The model-based test suite of one machine: paths generated from the definition, run on the real actor host over a
 * real nats-server (restored from snapshots mid-path), every step checked against the requirement oracle, and
 * coverage of states and transitions required to be complete. One test per generated path, named by its id, so the
 * OQ report can name the test that covered each transition.
 */
export function modelSuite(adapter: ModelAdapter): void {
  const plan = generate(adapter);
  let server: TestNats;
  let nc: NatsConnection;
  let result: ModelResult;

  describe(`model: ${adapter.name} machine v${adapter.version} on the real actor host`, () => {
    beforeAll(async () => {
      server = await startTestNats();
      nc = await connect({ servers: server.url, noAsyncTraces: true });
      const run = await runOnHost(adapter, plan, nc);
      result = check(adapter, plan, run, runtime());
      await mkdir(RUNS_DIR, { recursive: true });
      await writeFile(join(RUNS_DIR, `${adapter.name}.json`), JSON.stringify(result, null, 1));
    }, 300_000);
    afterAll(async () => {
      await nc?.close();
      await server?.stop();
    });

    for (const p of plan.paths) {
      const title = `${p.id} [${p.variant}] ${p.steps.map((s) => s.candidate.event.type + (s.candidate.given ? `(${s.candidate.given})` : '')).join(' → ')}`;
      it(title, () => {
        const checked = result.paths.find((x) => x.id === p.id)!;
        const failures = checked.steps.filter((s) => !s.ok).map((s) => `${s.from} --${s.event}${s.given ? `(${s.given})` : ''}--> ${s.to}: ${s.problem}`);
        expect(failures).toEqual([]);
      });
    }

    it('every explored edge agrees with the requirements (pure machine)', () => {
      expect(result.edges.failed).toEqual([]);
    });

    it('no input was dead-lettered by the host', () => {
      expect(result.deadLetters).toEqual([]);
    });

    it('covers every state node and every transition of the definition', () => {
      const missedStates = result.states.filter((s) => s.coveredBy.length === 0).map((s) => s.id);
      const missedTransitions = result.transitions.filter((t) => t.coveredBy.length === 0).map((t) => t.key);
      expect({ missedStates, missedTransitions }).toEqual({ missedStates: [], missedTransitions: [] });
    });
  });
}
