import { expect } from './bdd.ts';
import { transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';

const plain = (actions: { type: string; params?: unknown }[]) => actions.map(({ type, params }) => ({ type, params }));

/**
 * Persists `live` as JSON `{ value, context }` (what the actor host stores), restores it with `resolveState`, and
 * checks that the live and the restored snapshot go through `events` identically: same states, contexts and actions.
 * Returns the restored snapshot at the end.
 */
export function expectRestoresIdentically<S extends AnyMachineSnapshot>(
  machine: AnyStateMachine,
  live: S,
  events: readonly { type: string; at: number }[],
): S {
  const stored = JSON.parse(JSON.stringify({ value: live.value, context: live.context }));
  let a: AnyMachineSnapshot = live;
  let b: AnyMachineSnapshot = machine.resolveState(stored);
  for (const event of events) {
    const [nextA, actionsA] = transition(machine, a, event as never);
    const [nextB, actionsB] = transition(machine, b, event as never);
    expect(plain(actionsB), event.type).toEqual(plain(actionsA));
    expect(nextB.value, event.type).toEqual(nextA.value);
    expect(nextB.context, event.type).toEqual(nextA.context);
    a = nextA;
    b = nextB;
  }
  return b as S;
}
