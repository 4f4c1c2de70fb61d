import type { AnyStateMachine } from 'xstate';
import { subjects } from '../nats/subjects.ts';
import type { InputEnvelope } from './envelope.ts';
import type { ActionResult, ActorKind, ApplyInfo, PersistedState } from './kind.ts';

/** Turns one named machine action into effects; `params` are the action's params as the machine built them. */
export type EffectFn = (params: Record<string, unknown>, info: ApplyInfo) => ActionResult | undefined;

export interface MachineKindSpec<View extends object = Record<string, unknown>> {
  type: string;
  machine: AnyStateMachine;
  version: number;
  actors: ReadonlyMap<string, unknown>;
  creatable?: boolean;
  stateName: (s: PersistedState) => string;
  view: (id: string, s: PersistedState) => View;
  /** The machine's effect actions by name; `reject` is handled here for every kind. */
  effects: Record<string, EffectFn>;
}

/**
 * An actor kind from a table of effects (DESIGN.md principle 2: the machine names effects, the kind implements them).
 * Every machine's `reject` action becomes the input's rejection `{ code, message, ...details }` (one error registry).
 */
export function machineKind<View extends object>(spec: MachineKindSpec<View>): ActorKind<View> {
  return {
    type: spec.type, machine: spec.machine, version: spec.version, actors: spec.actors,
    ...(spec.creatable ? { creatable: true } : {}),
    stateName: spec.stateName, view: spec.view,
    interpret(action, info) {
      const params = (action.params ?? {}) as Record<string, unknown>;
      if (action.type === 'reject') {
        const { code, message, ...details } = params as { code: string; message: string };
        return { rejection: { code, message, state: spec.stateName(info.before), ...details } };
      }
      return spec.effects[action.type]?.(params, info);
    },
  };
}

/** An input appended to another actor's inbox, attributed to the actor that sent it. */
export function inputTo(type: string, id: string, info: ApplyInfo, event: Record<string, unknown>): { subject: string; payload: InputEnvelope } {
  return {
    subject: subjects.inbox(type, id),
    payload: { event: { at: info.event.at, by: `${info.event.by ?? 'system'}`, ...event, type: String(event.type) } },
  };
}

/** An audit request for a record-keeping action: who, what, on which actor, with the action's params as its content. */
export function auditOf(type: string, action: string, info: ApplyInfo, after: Record<string, unknown>, who?: string): ActionResult {
  const reason = typeof info.event.reason === 'string' ? info.event.reason : undefined;
  return { audit: [{ who: who ?? info.event.by ?? 'system', action: `${type}.${action}`, target: `${type}:${info.id}`, ...(reason ? { reason } : {}), after }] };
}
