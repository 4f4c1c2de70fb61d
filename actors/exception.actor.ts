import {
  EXCEPTION_MACHINE_VERSION, exceptionMachine, type ExceptionContext, type ExceptionInput,
} from '../machines/exception.machine.ts';
import { isoTimes } from './iso-time.ts';
import type { PersistedState } from './kind.ts';
import { auditOf, inputTo, machineKind } from './machine-kind.ts';

/**
 * The exception actor kind: an MES exception (deviation) and its Part 11 signatures (21 CFR 11.50, 11.70; Annex 11 §9).
 * Exceptions are created at run time (`CREATE`); `batches: false` where no batch actors run yet, so nothing is sent to
 * inboxes without an actor.
 */
export function exceptionKind(actors: ReadonlyMap<string, ExceptionInput>, opts: { batches?: boolean } = {}) {
  const record = (name: string) => (p: Record<string, unknown>, info: Parameters<typeof auditOf>[2]) => auditOf('exception', name, info, p);
  return machineKind({
    type: 'exception', machine: exceptionMachine, version: EXCEPTION_MACHINE_VERSION, actors, creatable: true,
    stateName: (s) => String(s.value),
    view: exceptionView,
    effects: {
      recordAcknowledge: record('acknowledged'),
      recordInvestigation: record('investigated'),
      recordSignatures: record('signed'),
      recordClose: record('closed'),
      recordAddendum: record('addendum'),
      notifyBatch: (p, info) => (opts.batches === false ? undefined
        : { publish: [inputTo('batch', String(p.batchId), info, { type: 'EXCEPTION_STATUS', exception: p.exception, open: p.open })] }),
      notifyPhase: (p, info) => ({ publish: [inputTo('phase', String(p.phase), info, { type: 'CRITICAL_EXCEPTION', id: p.exception, unsigned: p.unsigned })] }),
    },
  });
}

/** The CONTRACT.md §2 shape of one entry of `GET /exceptions`, every time ISO 8601 (21 CFR 11.50(a)(2)). */
export function exceptionView(id: string, s: PersistedState) {
  const c = s.context as unknown as ExceptionContext;
  return isoTimes({
    id, kind: c.kind, status: String(s.value), critical: c.critical, source: c.source,
    ...(c.batchId ? { batchId: c.batchId } : {}), ...(c.phase ? { phase: c.phase } : {}),
    openedAt: c.openedAt, openedBy: c.openedBy, description: c.description,
    ...(c.acknowledged ? { acknowledged: c.acknowledged } : {}),
    ...(c.investigation ? { investigation: c.investigation } : {}),
    signatures: c.signatures, addenda: c.addenda, ...(c.closed ? { closed: c.closed } : {}),
  });
}
