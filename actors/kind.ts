import type { AnyStateMachine } from 'xstate';
import type { ActorEvent, AuditRequest, InputOutcome } from './envelope.ts';

/** One effect in an actor's outbox: a JetStream publish with a deterministic `Nats-Msg-Id` (DESIGN.md principle 3). */
export interface Effect {
  subject: string;
  payload: unknown;
  msgId: string;
}

/** What an effect interpreter may produce from one machine action. */
export interface ActionResult {
  publish?: { subject: string; payload: unknown }[];
  audit?: Omit<AuditRequest, 'at' | 'configVersion' | 'ref'>[];
  rejection?: NonNullable<InputOutcome['rejection']>;
  /** Extra fields for the HTTP answer (e.g. the accepted context id). */
  reply?: Record<string, unknown>;
}

export interface ApplyInfo {
  id: string;
  seq: number;
  event: ActorEvent;
  before: PersistedState;
  after: PersistedState;
}

/** A snapshot reduced to what a machine needs to be restored: its value and context. */
export interface PersistedState {
  value: unknown;
  context: Record<string, unknown>;
}

/**
 * An actor type as the host runs it: the pure machine, its version, how to create one from config, how to show it,
 * and how its named actions turn into effects (the machine names effects; the actor kind implements them).
 */
export interface ActorKind<View extends object = Record<string, unknown>> {
  type: string;
  machine: AnyStateMachine;
  version: number;
  /** Actor ids this kind runs, with the machine input for a genuine first start. */
  actors: ReadonlyMap<string, unknown>;
  /**
   * Actors of this kind may also be created at run time by a `CREATE` input carrying the machine `input` (e.g. an
   * exception raised by an alarm); they are found again in the snapshot store on rehydrate.
   */
  creatable?: boolean;
  /** A flat state name for events, audit and the API. */
  stateName(state: PersistedState): string;
  /** The public view (CONTRACT.md shapes), typed by the kind so routes need no casts. */
  view(id: string, state: PersistedState): View;
  /**
   * Migrates a snapshot persisted by an older machine version to this one (DESIGN.md principle 3), or returns
   * undefined when it cannot: the host then quarantines the actor instead of guessing.
   */
  migrate?(fromVersion: number, state: PersistedState, id: string): PersistedState | undefined;
  /** Interprets one machine action; unknown action types are ignored (xstate built-ins such as assign). */
  interpret(action: { type: string; params?: unknown }, info: ApplyInfo): ActionResult | undefined;
}
