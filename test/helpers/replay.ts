import { createActor, applyInput, initialRecord, type ActorRecord } from '../../actors/apply.ts';
import type { ActorEvent } from '../../actors/envelope.ts';
import type { Effect, PersistedState } from '../../actors/kind.ts';
import type { ModelAdapter } from '../model/harness/adapter.ts';
import { alarmAdapter } from '../model/adapters/alarm.ts';
import { exceptionAdapter } from '../model/adapters/exception.ts';
import { phaseAdapter } from '../model/adapters/phase.ts';
import { unitAdapter } from '../model/adapters/unit.ts';

/** The actor kinds that run in the runtime today, whose recorded inbox logs are kept as fixtures. */
export const REPLAYED: readonly ModelAdapter[] = [phaseAdapter, unitAdapter, alarmAdapter, exceptionAdapter];

/** One recorded actor: its input, every INBOX message it received, and what the host persisted after the last. */
export interface ReplayFixture {
  machine: string;
  type: string;
  version: number;
  id: string;
  variant: string;
  input: unknown;
  configVersion: string;
  /** Every input in INBOX order, with the snapshot and outbox the host persisted right after it. */
  inputs: { seq: number; event: ActorEvent; snapshot: PersistedState; outbox: Effect[] }[];
  lastSeq: number;
  snapshot: PersistedState;
  outbox: Effect[];
}

/**
 * Replays a recorded inbox log through the pure machine the way the host applies it (DESIGN.md house style: recorded
 * event logs replay through the machines and must give the same snapshots): a `CREATE` of a creatable kind makes the
 * actor, every other input goes through `applyInput`, in INBOX order.
 */
export function replay(adapter: ModelAdapter, f: ReplayFixture): ActorRecord[] {
  const kind = adapter.kind(new Map([[f.id, f.input]]));
  const out: ActorRecord[] = [];
  let record: ActorRecord | undefined;
  for (const { seq, event } of f.inputs) {
    record = !record && kind.creatable && event.type === 'CREATE'
      ? createActor(kind, f.id, event, seq, 'INBOX', 'replay', f.configVersion).record
      : applyInput(kind, record ?? initialRecord(kind, f.id, f.input, 'INBOX', 'replay'), event, seq, f.configVersion).record;
    out.push(record);
  }
  return out;
}
