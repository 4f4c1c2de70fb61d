import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { exceptionMachine } from '../../machines/exception.machine.ts';
import { exceptionAdapter } from '../model/adapters/exception.ts';
import type { ModelResult } from '../model/harness/check.ts';
import { plan } from '../model/harness/generate.ts';
import { evaluate } from '../model/report/evaluate.ts';

/** The exception machine with one transition added that no requirement row (and so no generated input) reaches. */
function withUntestedTransition() {
  const config = exceptionMachine.config as { states: Record<string, { on?: Record<string, unknown> }> };
  const closed = config.states.Closed!;
  return createMachine(
    { ...(exceptionMachine.config as object), states: { ...config.states, Closed: { ...closed, on: { ...closed.on, ESCALATE: { target: 'Open' } } } } } as never,
    exceptionMachine.implementations as never,
  );
}

const result = (over: Partial<ModelResult>): ModelResult => ({
  machine: 'exception', version: 1, ranAt: '', runtime: '', explored: {}, paths: [], edges: { checked: 0, failed: [] }, deadLetters: [], hostMs: 0, requirements: [],
  coverage: { states: 1, statesCovered: 1, transitions: 1, transitionsCovered: 1, guardsFalse: 0, guardsFalseCovered: 0 },
  states: [{ id: 'Open', coveredBy: ['exception#1'] }],
  transitions: [{ key: 'Open ACKNOWLEDGE #0', source: 'Open', event: 'ACKNOWLEDGE', coveredBy: ['exception#1'], guardFalseBy: [] }],
  ...over,
});

describe('model-based coverage: a transition without a test path fails validation', () => {
  it('the generator finds no path through a transition the requirement data never asks for', () => {
    const p = plan({ ...exceptionAdapter, machine: withUntestedTransition() });
    expect(p.targets.transitions.map((t) => t.key)).toContain('Closed ESCALATE #0');
    expect(p.paths.flatMap((x) => x.steps.flatMap((s) => s.taken))).not.toContain('Closed ESCALATE #0');
    // every transition of the real definition is planned
    const planned = new Set(plan(exceptionAdapter).paths.flatMap((x) => x.steps.flatMap((s) => s.taken)));
    expect(plan(exceptionAdapter).targets.transitions.filter((t) => !planned.has(t.key))).toEqual([]);
  });

  it('evaluate() fails on an uncovered transition or state, a failed path, a missing machine, or a failed test', () => {
    const ok = evaluate(['exception'], new Map([['exception', result({})]]), []);
    expect(ok).toMatchObject({ ok: true, problems: [], coverage: { exception: { states: 1, statesCovered: 1, transitions: 1, transitionsCovered: 1 } } });
    const uncovered = result({ transitions: [{ key: 'Closed ESCALATE #0', source: 'Closed', event: 'ESCALATE', coveredBy: [], guardFalseBy: [] }] });
    expect(evaluate(['exception'], new Map([['exception', uncovered]]), []).problems).toEqual(['exception: transitions not covered: Closed ESCALATE #0']);
    const unreached = result({ states: [{ id: 'Closed', coveredBy: [] }] });
    expect(evaluate(['exception'], new Map([['exception', unreached]]), []).ok).toBe(false);
    const failedPath = result({ paths: [{ id: 'exception#1', variant: 'critical', purpose: '', restoredAt: 0, steps: [], ok: false }] });
    expect(evaluate(['exception'], new Map([['exception', failedPath]]), []).problems).toEqual(['exception: paths failed on the host: exception#1']);
    expect(evaluate(['exception', 'alarm'], new Map([['exception', result({})]]), []).problems[0]).toMatch(/^alarm: no model-based run/);
    expect(evaluate(['exception'], new Map([['exception', result({})]]), ['model: exception > x']).ok).toBe(false);
  });
});
