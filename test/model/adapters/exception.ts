import { exceptionKind } from '../../../actors/exception.actor.ts';
import { EXCEPTION_MACHINE_VERSION, exceptionMachine } from '../../../machines/exception.machine.ts';
import type { ExceptionEvent, ExceptionInput, SignatureInput } from '../../../machines/exception.machine.ts';
import type { ModelAdapter } from '../harness/adapter.ts';
import { MODEL_T0, rowCandidates, rowOracle, rowsOf } from '../harness/rows.ts';
import { EXCEPTION_REQUIREMENTS, type ExceptionEventName, type ExceptionGiven } from '../requirements/exception.ts';

/** A critical or non-critical alarm exception on R201's heating phase in batch B1 (CONTRACT.md §3 demo plant). */
export const exceptionInput = (id: string, critical: boolean): ExceptionInput => ({
  id, kind: 'alarm', critical, source: 'alm.line2', batchId: 'B1', phase: 'R201.HEAT', openedAt: MODEL_T0, openedBy: 'system',
  description: 'R201.TT01.HI active during heating', secondSignerRoles: ['supervisor', 'qa'], closeRoles: ['qa'],
});

const sig = (username: string, meaning: SignatureInput['meaning'], signedAt: number, roles: string[], name?: string): SignatureInput =>
  ({ username, meaning, signedAt, roles, ...(name ? { name } : {}) });

/** The signature sets a requirement situation names. */
export const exceptionSignatures = (at: number): Record<'one_signature' | 'two_distinct' | 'same_user_twice' | 'second_without_role' | 'no_signatures' | 'bad_meaning', SignatureInput[]> => ({
  one_signature: [sig('op1', 'performed', at, ['operator'], 'Olga Petrova')],
  two_distinct: [sig('op1', 'performed', at, ['operator'], 'Olga Petrova'), sig('sup1', 'reviewed', at, ['supervisor'], 'Sam Upton')],
  same_user_twice: [sig('op1', 'performed', at, ['operator']), sig('op1', 'reviewed', at, ['supervisor'])],
  second_without_role: [sig('op1', 'performed', at, ['operator']), sig('op2', 'reviewed', at, ['operator'])],
  no_signatures: [],
  bad_meaning: [{ ...sig('op1', 'performed', at, ['operator']), meaning: 'authored' as never }],
});

/** The input a requirement row names (event and situation), at time `at`; `OPEN` is the creation, not an input. */
export function exceptionEvent(event: ExceptionEventName, given: ExceptionGiven | undefined, at: number): ExceptionEvent | undefined {
  const by = given === 'no_by' ? '' : 'qa1';
  switch (event) {
    case 'ACKNOWLEDGE': return { type: 'ACKNOWLEDGE', at: given === 'no_at' ? Number.NaN : at, by };
    case 'INVESTIGATE': return {
      type: 'INVESTIGATE', at, by,
      cause: given === 'no_cause' ? '' : given === 'blank_cause' ? '   ' : 'thermocouple loose',
      action: given === 'no_action' ? '' : 'tightened and verified',
    };
    case 'SIGN': {
      const sets = exceptionSignatures(at) as Partial<Record<ExceptionGiven, SignatureInput[]>>;
      return { type: 'SIGN', at, signatures: (given && sets[given]) ?? sets.two_distinct! };
    }
    case 'CLOSE': return { type: 'CLOSE', at, by, roles: given === 'closer_without_role' ? ['supervisor'] : ['qa'] };
    case 'ADDENDUM': return { type: 'ADDENDUM', at, by, text: given === 'empty_text' ? ' ' : 'TT01 serial number corrected' };
    case 'UNKNOWN': return { type: 'REOPEN', at, by } as unknown as ExceptionEvent;
    case 'OPEN': return undefined;
  }
}

const rows = rowsOf(EXCEPTION_REQUIREMENTS, (t) => (t.critical === undefined ? undefined : [t.critical ? 'critical' : 'non-critical']));

/** The exception machine under the model-based tests, with test/model/requirements/exception.ts as the oracle. */
export const exceptionAdapter: ModelAdapter = {
  name: 'exception',
  machine: exceptionMachine,
  version: EXCEPTION_MACHINE_VERSION,
  variants: [
    { name: 'non-critical', input: (id) => exceptionInput(id, false) },
    { name: 'critical', input: (id) => exceptionInput(id, true) },
  ],
  kind: (actors) => exceptionKind(actors as ReadonlyMap<string, ExceptionInput>),
  // An input with `at: NaN` never reaches a machine on the host (the envelope is dead-lettered): left to the unit tests.
  events: (s, variant) => rowCandidates(rows, String(s.value), variant, (event, given) =>
    (given === 'no_at' ? undefined : exceptionEvent(event as ExceptionEventName, given as ExceptionGiven | undefined, MODEL_T0 + 1_000)) as never),
  serialize: (s) => String(s.value),
  stateOf: (s) => String(s.value),
  oracle: rowOracle(rows),
  requirements: EXCEPTION_REQUIREMENTS.map((r) => ({ id: r.id, text: r.text, source: 'test/model/requirements/exception.ts' })),
};
