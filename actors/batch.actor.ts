import { BATCH_MACHINE_VERSION, b2mmlState, batchMachine, type BatchInput, type BatchState } from '../machines/batch.machine.ts';
import { subjects } from '../nats/subjects.ts';
import { isoTimes } from './iso-time.ts';
import { auditOf, machineKind } from './machine-kind.ts';

/** The batch actor kind: start gating, unattributed production, review and release (ISA-88 §5.1; B2MML states). */
export function batchKind(actors: ReadonlyMap<string, BatchInput>) {
  return machineKind({
    type: 'batch', machine: batchMachine, version: BATCH_MACHINE_VERSION, actors,
    stateName: (s) => String(s.value),
    view: (id, s) => isoTimes({ id, state: String(s.value), b2mml: b2mmlState(String(s.value) as BatchState), ...(s.context as Record<string, unknown>) }),
    effects: {
      recordTransition: (p, info) => auditOf('batch', 'recorded', info, p),
      recordRunSignal: (p, info) => auditOf('batch', 'run_signal', info, p, String(p.source)),
      batchStarted: (p) => ({ publish: [{ subject: `${subjects.event('batch', String(p.batchId))}.started`, payload: p }] }),
      raiseException: (p, info) => ({
        publish: [{ subject: `${subjects.event('batch', info.id)}.exception`, payload: p }],
        ...auditOf('batch', 'exception.raised', info, p),
      }),
    },
  });
}
