import { initialTransition, transition, type AnyStateMachine } from 'xstate';

/** An action as the tests compare it: its type and params, without xstate's executable parts. */
export type PlainAction = { type: string; params: Record<string, unknown> };

const plain = (actions: readonly { type: string; params?: unknown }[]): PlainAction[] =>
  actions.map((a) => ({ type: a.type, params: a.params as Record<string, unknown> }));

/**
 * A machine driven through xstate's pure API the way the actor host drives it (DESIGN.md principle 2): `create`
 * runs the initial transition, `send` one event; both answer the actions as plain `{ type, params }`.
 */
export function pureMachine<S, E, I>(machine: AnyStateMachine) {
  return {
    create(input: I): { snapshot: S; actions: PlainAction[] } {
      const [snapshot, actions] = initialTransition(machine, input as never);
      return { snapshot: snapshot as S, actions: plain(actions) };
    },
    send(snapshot: S, event: E): { next: S; actions: PlainAction[] } {
      const [next, actions] = transition(machine, snapshot as never, event as never);
      return { next: next as S, actions: plain(actions) };
    },
  };
}
