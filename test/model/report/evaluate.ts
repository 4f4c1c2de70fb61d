import type { ModelResult } from '../harness/check.ts';

/** `var/validation/coverage.json`: per machine, state nodes and transitions, and how many the model tests covered. */
export type CoverageFile = Record<string, { states: number; statesCovered: number; transitions: number; transitionsCovered: number }>;

export interface Verdict {
  ok: boolean;
  coverage: CoverageFile;
  problems: string[];
}

/**
 * The OQ verdict: every machine of the registry has a model run, every generated path passed on the host, and
 * every state node and transition of every machine was covered. Anything less is a failure with its reason.
 */
export function evaluate(machineNames: string[], results: Map<string, ModelResult>, failedTests: string[]): Verdict {
  const problems: string[] = [...failedTests.map((t) => `test failed: ${t}`)];
  const coverage: CoverageFile = {};
  for (const name of machineNames) {
    const r = results.get(name);
    if (!r) {
      problems.push(`${name}: no model-based run (no test/model/*.model.test.ts suite wrote one for it)`);
      continue;
    }
    const { states, statesCovered, transitions, transitionsCovered } = r.coverage;
    coverage[name] = { states, statesCovered, transitions, transitionsCovered };
    const missedStates = r.states.filter((s) => s.coveredBy.length === 0).map((s) => s.id);
    const missedTransitions = r.transitions.filter((t) => t.coveredBy.length === 0).map((t) => t.key);
    if (missedStates.length) problems.push(`${name}: states not covered: ${missedStates.join(', ')}`);
    if (missedTransitions.length) problems.push(`${name}: transitions not covered: ${missedTransitions.join(', ')}`);
    const failedPaths = r.paths.filter((p) => !p.ok).map((p) => p.id);
    if (failedPaths.length) problems.push(`${name}: paths failed on the host: ${failedPaths.join(', ')}`);
    if (r.edges.failed.length) problems.push(`${name}: explored edges disagree with the requirements: ${r.edges.failed.join('; ')}`);
    if (r.deadLetters.length) problems.push(`${name}: inputs dead-lettered: ${r.deadLetters.join('; ')}`);
  }
  for (const name of results.keys()) if (!machineNames.includes(name)) problems.push(`${name}: a model run for a machine not in the registry`);
  return { ok: problems.length === 0, coverage, problems };
}
