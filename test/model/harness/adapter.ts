import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { ActorEvent } from '../../../actors/envelope.ts';
import type { ActorKind } from '../../../actors/kind.ts';

/** One input the generator may send in a snapshot, with the named situation it stands for (e.g. `one_signature`). */
export interface Candidate {
  event: ActorEvent;
  /** The requirement data's name of the event when it differs from `event.type` (e.g. `UNKNOWN`). */
  name?: string;
  /** The requirement data's name for the situation this input builds; absent for a complete, valid input. */
  given?: string;
}

/** What a requirement row expects of one step: a target state, or a rejection code with the state unchanged. */
export interface Expectation {
  requirement: string;
  to?: string;
  reject?: string;
  /** The row as the requirement data writes it, for the report. */
  row: string;
}

/** One generated step as the oracle sees it: requirement-data names only, never the machine's own answer. */
export interface OracleQuery {
  variant: string;
  from: string;
  candidate: Candidate;
  /** The snapshot before the step (for situations the requirement data conditions on, e.g. a latched alarm). */
  before: AnyMachineSnapshot;
}

/** A requirement as the report lists it. */
export interface RequirementText {
  id: string;
  text: string;
  source: string;
}

/**
 * How the model-based tests drive one machine: its inputs, the candidate events per snapshot, the state space
 * reduction, and the oracle, which answers from the requirement data (test/model/requirements/) and never from the
 * machine under test.
 */
export interface ModelAdapter {
  /** The key of the machine in `machines/index.ts`. */
  name: string;
  machine: AnyStateMachine;
  version: number;
  /** Machine inputs explored separately (e.g. latching and non-latching alarms); `input(id)` builds one actor's input. */
  variants: { name: string; input: (id: string) => unknown }[];
  /** The actor kind the real host runs for these actors (id → machine input). */
  kind: (actors: ReadonlyMap<string, unknown>) => ActorKind;
  /** The inputs to try in a snapshot. Times are explicit; timers fire at the deadline held in the context. */
  events: (snapshot: AnyMachineSnapshot, variant: string) => Candidate[];
  /** Collapses snapshots the requirements do not tell apart (times, counters), so the state space stays finite. */
  serialize: (snapshot: AnyMachineSnapshot) => string;
  /** The requirement data's name of the state a snapshot is in. */
  stateOf: (snapshot: AnyMachineSnapshot) => string;
  /** The requirement rows that apply to a step; empty when no requirement covers it (a failure). */
  oracle: (q: OracleQuery) => Expectation[];
  /** Every requirement the oracle may name, with its text and where it comes from. */
  requirements: RequirementText[];
}
