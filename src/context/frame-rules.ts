import type { Frame } from './frame-store.ts';
import type { ContextMessage } from '../../nats/context.schema.ts';
import type { TransitionEvent as PhaseEvent } from '../../nats/event.schema.ts';

/** What the tracker remembers per unit: the last context applied and the frames it holds open. */
export interface UnitCursor {
  lastSeq: number;
  lastStreamSeq: number;
  contextId?: string;
  batch?: Frame;
  unitProcedure?: Frame;
  operation?: Frame;
}

/** What the tracker remembers per phase: the last transition applied and the open phase frame. */
export interface PhaseCursor {
  lastStreamSeq: number;
  lastEventSeq: number;
  lastFrom?: string;
  lastTo?: string;
  open?: Frame;
}

/** The outcome of one message: the new cursor and the frames to store (opened or closed). */
export interface Step<C> {
  cursor: C;
  frames: Frame[];
}

const CLOSING = new Set(['complete', 'stopped', 'aborted']);

function close(f: Frame, at: number, ref: string): Frame {
  return { ...f, end: Math.max(at, f.start), closedBy: ref };
}

/**
 * Batch, unit-procedure and operation frames from MES context assertions (ISA-88 procedural hierarchy): a level
 * opens on the first context that names it on the unit and closes at the `at` of a context that changes it (or a
 * level above it) or releases the unit. Stale contexts (seq not above the last one, or a release of an older one)
 * change nothing.
 */
export function onContext(cur: UnitCursor, c: ContextMessage, ref: string): Step<UnitCursor> | undefined {
  // A release names the context it ends (its seq, when the unit held one): only a release of an older one is stale.
  if (c.seq !== undefined && (c.released === true ? c.seq < cur.lastSeq : c.seq <= cur.lastSeq)) return undefined;
  const next: UnitCursor = { ...cur, lastSeq: Math.max(cur.lastSeq, c.seq ?? cur.lastSeq) };
  const frames: Frame[] = [];
  const end = (...levels: ('batch' | 'unitProcedure' | 'operation')[]) => {
    for (const level of levels) {
      const f = next[level];
      if (f) frames.push(close(f, c.at, ref));
      delete next[level];
    }
  };
  if (c.released === true) {
    end('operation', 'unitProcedure', 'batch');
    delete next.contextId;
    return { cursor: next, frames };
  }
  if (next.batch && next.batch.batchId !== c.batchId) end('operation', 'unitProcedure', 'batch');
  else if (next.unitProcedure && next.unitProcedure.unitProcedure !== c.unitProcedure) end('operation', 'unitProcedure');
  else if (next.operation && next.operation.operation !== c.operation) end('operation');
  const base = { batchId: c.batchId, unit: c.unit, contextId: c.contextId, start: c.at, openedBy: ref };
  if (!next.batch) frames.push((next.batch = { id: `batch:${c.batchId}:${c.unit}:${c.seq}`, kind: 'batch', ...base }));
  if (!next.unitProcedure && c.unitProcedure) {
    const id = `unitProcedure:${c.batchId}:${c.unit}:${c.unitProcedure}:${c.seq}`;
    frames.push((next.unitProcedure = { id, kind: 'unitProcedure', unitProcedure: c.unitProcedure, ...base }));
  }
  if (!next.operation && c.operation) {
    const id = `operation:${c.batchId}:${c.unit}:${c.operation}:${c.seq}`;
    const up = c.unitProcedure ? { unitProcedure: c.unitProcedure } : {};
    frames.push((next.operation = { id, kind: 'operation', operation: c.operation, ...up, ...base }));
  }
  next.contextId = c.contextId;
  return { cursor: next, frames };
}

/**
 * Phase frames from phase transitions (IEC 61512-1 states): a frame opens when the phase enters Running from Idle
 * and closes at the `at` of the transition into Complete, Stopped or Aborted. A republished transition (same actor
 * seq and states) changes nothing. `batchId` is the unit's current batch when the event carries none.
 */
export function onPhaseEvent(
  cur: PhaseCursor,
  ev: PhaseEvent,
  unit: string,
  batchId: string | undefined,
  ref: string,
): Step<PhaseCursor> | undefined {
  const same = ev.seq === cur.lastEventSeq && ev.from === cur.lastFrom && ev.to === cur.lastTo;
  if (ev.seq < cur.lastEventSeq || same) return undefined;
  const next: PhaseCursor = { ...cur, lastEventSeq: ev.seq, lastFrom: ev.from, lastTo: ev.to };
  const frames: Frame[] = [];
  const from = ev.from.toLowerCase();
  const to = ev.to.toLowerCase();
  if (from === 'idle' && to === 'running') {
    if (next.open) frames.push(close(next.open, ev.at, ref)); // a close we never saw: end it here
    const ctx = ev.contextId ? { contextId: ev.contextId } : {};
    const batch = ev.batchId ?? batchId ?? '';
    const id = `phase:${ev.actor}:${ev.seq}`;
    next.open = { id, kind: 'phase', batchId: batch, unit, phase: ev.actor, ...ctx, start: ev.at, openedBy: ref };
    frames.push(next.open);
  } else if (CLOSING.has(to) && next.open) {
    frames.push(close(next.open, ev.at, ref));
    delete next.open;
  }
  return { cursor: next, frames };
}
