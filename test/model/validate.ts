/**
 * `npm run validate`: runs the model-based tests (test/model/*.model.test.ts) and writes the OQ evidence to
 * var/validation/: coverage.json, report.html (diagrams, transitions with the tests that covered them, traceability
 * matrix, run identification) and vitest.json. Exits non-zero unless every state and transition of every machine was
 * covered and every generated step matched its requirement.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEnv } from '../../config/env.ts';
import { resolveNatsServer } from '../../src/broker/resolve.ts';
import { logger } from '../../src/log.ts';
import type { ModelResult } from './harness/check.ts';
import { RUNS_DIR } from './harness/suite.ts';
import { buildReport, runInfo } from './report/build.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'var', 'validation');

interface VitestJson { testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[] }

await rm(RUNS_DIR, { recursive: true, force: true });
await mkdir(OUT, { recursive: true });
const vitestJson = join(OUT, 'vitest.json');
const run = spawnSync(join(ROOT, 'node_modules', '.bin', 'vitest'), [
  'run', 'test/model', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`,
], { cwd: ROOT, stdio: 'inherit' });

let failed: string[] = [];
try {
  const json = JSON.parse(await readFile(vitestJson, 'utf8')) as VitestJson;
  failed = json.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status !== 'passed').map((a) => a.fullName));
} catch {
  failed = [`vitest wrote no results (exit ${run.status ?? run.signal})`];
}
if (run.status !== 0 && failed.length === 0) failed.push(`vitest exited with ${run.status ?? run.signal}`);

const results = new Map<string, ModelResult>();
for (const file of (await readdir(RUNS_DIR).catch(() => [])).filter((f) => f.endsWith('.json')).sort()) {
  const r = JSON.parse(await readFile(join(RUNS_DIR, file), 'utf8')) as ModelResult;
  results.set(r.machine, r);
}
const bin = await resolveNatsServer({ bin: readEnv().natsServerBin, varDir: join(ROOT, 'var'), log: logger('validate') }).catch(() => 'unresolved');
const { verdict, html } = await buildReport(results, failed, runInfo(bin.split('/').at(-2) ?? bin));
await writeFile(join(OUT, 'coverage.json'), JSON.stringify(verdict.coverage, null, 2) + '\n');
await writeFile(join(OUT, 'report.html'), html);

for (const [name, c] of Object.entries(verdict.coverage)) {
  console.log(`${name.padEnd(18)} states ${c.statesCovered}/${c.states}  transitions ${c.transitionsCovered}/${c.transitions}`);
}
console.log(`\nreport: ${join(OUT, 'report.html')}\ncoverage: ${join(OUT, 'coverage.json')}`);
if (!verdict.ok) {
  console.error(`\nVALIDATION FAILED:\n- ${verdict.problems.join('\n- ')}`);
  process.exit(1);
}
console.log('\nVALIDATION PASSED: every state and transition of every machine covered; every step matched its requirement.');
