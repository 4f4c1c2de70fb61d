import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { expect, it } from './bdd.ts';

const idsOf = (meta: unknown): string[] =>
  [(meta as { requirement?: string | readonly string[] } | undefined)?.requirement ?? []].flat() as string[];

/**
 * Traceability of a definition to its requirement list: every state (below the root) and every transition names, in
 * `meta.requirement`, one or more ids of the list, and no other ids.
 */
export function expectEveryNodeTraced(machine: AnyStateMachine, requirements: readonly { id: string }[]): void {
  const ids = new Set(requirements.map((r) => r.id));
  const nodes = (n: AnyStateNode): AnyStateNode[] => [n, ...Object.values(n.states).flatMap(nodes)];
  for (const node of nodes(machine.root)) {
    const own = idsOf(node.meta);
    if (node !== machine.root) expect(own.length, `state ${node.id} names no requirement`).toBeGreaterThan(0);
    for (const id of own) expect(ids, `state ${node.id}`).toContain(id);
    for (const [event, list] of node.transitions) {
      for (const t of list) {
        const named = idsOf(t.meta);
        expect(named.length, `${node.id} ${event} names no requirement`).toBeGreaterThan(0);
        for (const id of named) expect(ids, `${node.id} ${event}`).toContain(id);
      }
    }
  }
}

/** A requirement row's `reject:<code>` outcome: exactly one `reject` action with that code and a message. */
export function expectRejected(actions: readonly { type: string; params?: unknown }[], to: string): void {
  expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: to.slice('reject:'.length), message: expect.any(String) }) }]);
}

/** One row of a URS list (test/model/requirements/): from a state, an input, to a state or `reject:<code>`. */
export interface RequirementRow { from: string; event: string; to: string; given?: string; emits?: string[] }

type Step<S> = { next: S; actions: readonly { type: string; params?: unknown }[] };

/**
 * One test per requirement row, walked through the pure machine: `Start` rows check the creation, the others reach
 * `from` and send the row's input. A `reject:<code>` row expects exactly that rejection and nothing changed; any other
 * row expects the target state and, where the row lists them, the effects in order.
 */
export function itEveryRequirementRow<S extends { status: string; value: unknown; context: unknown }, R extends RequirementRow>(
  requirements: readonly { id: string; transitions: readonly R[] }[],
  h: { create: (row: R) => Step<S>; reach: (row: R) => S; send: (before: S, row: R) => Step<S>; label?: (row: R) => string },
): void {
  for (const requirement of requirements) {
    for (const row of requirement.transitions) {
      const title = `${requirement.id}: ${row.from} --${row.event}${row.given ? `(${row.given})` : ''}${h.label?.(row) ?? ''}--> ${row.to}`;
      it(title, () => {
        const start = row.from === 'Start' ? undefined : h.reach(row);
        const { next, actions } = start === undefined ? h.create(row) : h.send(start, row);
        expect(next.status).toBe('active');
        if (row.to.startsWith('reject:')) {
          expectRejected(actions, row.to);
          expect(next.value).toBe(row.from);
          expect(next.context).toEqual(start?.context);
        } else {
          expect(next.value).toBe(row.to);
          if (row.emits) expect(actions.map((a) => a.type)).toEqual(row.emits);
        }
      });
    }
  }
}
