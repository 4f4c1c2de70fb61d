import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../../config/load.ts';
import { machineNames, renderDiagram } from '../../../src/diagrams/index.ts';
import type { ModelResult } from '../harness/check.ts';
import { evaluate, type Verdict } from './evaluate.ts';
import { reportHtml, type RunInfo } from './html.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPENDENCIES = ['xstate', '@nats-io/jetstream', '@nats-io/kv', '@nats-io/transport-node', 'msgpackr', 'vitest'];

const versionOf = (pkg: string): string => {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
};

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Identifies the run: date, product and source version, configuration hash, runtime and dependency versions. */
export function runInfo(natsServer: string): RunInfo {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { name: string; version: string };
  return {
    date: new Date().toISOString(), product: `${pkg.name} ${pkg.version}`, commit: commit(),
    configVersion: loadConfig(`${ROOT}config`).version, runtime: `node ${process.version} on ${process.platform}/${process.arch}`,
    dependencies: { ...Object.fromEntries(DEPENDENCIES.map((d) => [d, versionOf(d)])), 'nats-server': natsServer },
  };
}

/** The verdict and the HTML report over every machine of the registry, from the model runs given. */
export async function buildReport(results: Map<string, ModelResult>, failedTests: string[], info: RunInfo): Promise<{ verdict: Verdict; html: string }> {
  const names = machineNames();
  const verdict = evaluate(names, results, failedTests);
  const machines = await Promise.all(names.map(async (name) => ({ name, svg: (await renderDiagram(name, 'svg')).body })));
  return { verdict, html: reportHtml(info, verdict, machines, results) };
}
