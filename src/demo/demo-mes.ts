import type { ActorHost } from '../../actors/host.ts';
import type { Logger } from '../log.ts';

export interface DemoMesOptions {
  host: ActorHost;
  unit: string;
  /** Phases run in this order for every batch. */
  phases: string[];
  log: Logger;
  tickMs?: number;
}

const FINAL = new Set(['Complete', 'Stopped', 'Aborted']);

/**
 * A demo MES that keeps batches cycling on one unit. It is a stateless reconciler: each tick it reads the unit and its
 * phases and takes the one next step (CIP start and result, line clearance, assert context, start, advance, release,
 * reset), so it resumes correctly after any restart. Every step goes through the actors' inboxes as the `mes` account.
 */
export function startDemoMes(o: DemoMesOptions): { stop(): void } {
  let stopped = false;
  let busy = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      await step(o);
    } catch (err) {
      o.log.warn({ err: String(err) }, 'demo MES step failed; retrying');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), o.tickMs ?? 1000);
  timer.unref?.();
  return { stop: () => { stopped = true; clearInterval(timer); } };
}

async function step(o: DemoMesOptions): Promise<void> {
  const { host, unit } = o;
  const u = host.get('unit', unit);
  if (!u || u.quarantined) return;
  const value = u.snapshot.value as { availability: string; hygiene: string };
  const ctx = u.snapshot.context as {
    lastSeq: number; context?: { batchId: string; phase?: string }; lineClearance?: unknown; dirtyHoldExpired?: boolean;
  };
  const state = (id: string) => String(host.get('phase', id)?.snapshot.value);
  const send = (type: string, id: string, event: Record<string, unknown>) =>
    host.send(type, id, { at: Date.now(), by: 'mes', roles: ['mes'], ...event } as never, { timeoutMs: 5000 });

  if (value.availability === 'Available') {
    // Leftovers of the previous batch are reset before anything new starts.
    const done = o.phases.find((p) => FINAL.has(state(p)));
    if (done) return void (await send('phase', done, { type: 'RESET' }));
    // The unit's GMP cycle: CIP (the demo stands in for the control system reporting its result), line clearance.
    if (value.hygiene === 'Dirty') {
      return void (await send('unit', unit, { type: 'CIP_START', ...(ctx.dirtyHoldExpired ? { deviationId: 'DEMO-DEV' } : {}) }));
    }
    if (value.hygiene === 'Cleaning') {
      return void (await send('unit', unit, { type: 'CIP_COMPLETE', ok: true, by: 'plc:demo', reason: 'demo CIP cycle passed' }));
    }
    if (value.hygiene === 'Sterilising') return;
    if (!ctx.lineClearance) return void (await send('unit', unit, { type: 'LINE_CLEARANCE', reason: 'demo line clearance' }));
    const seq = ctx.lastSeq + 1;
    const batchId = `DEMO-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${String(seq).padStart(4, '0')}`;
    return void (await assert(send, unit, ctx.lastSeq, batchId, o.phases[0]!));
  }
  // Out of service, or allocated by someone else without a context: nothing for the demo MES to do.
  if (value.availability !== 'Allocated' || !ctx.context) return;
  const batch = ctx.context;
  const current = batch.phase ?? o.phases[0]!;
  for (const p of o.phases) if (p !== current && FINAL.has(state(p))) return void (await send('phase', p, { type: 'RESET' }));
  const s = state(current);
  if (s === 'Idle') {
    const p = host.get('phase', current)?.snapshot.context as { permissives: { contextId?: string } };
    if (p.permissives.contextId === (batch as { contextId?: string }).contextId) await send('phase', current, { type: 'START' });
    return;
  }
  if (s === 'Held') return void (await send('phase', current, { type: 'RESTART' }));
  if (!FINAL.has(s)) return; // running: the PLC reports progress
  const next = o.phases[o.phases.indexOf(current) + 1];
  // Advance the context first, then reset: a restart in between never runs a phase twice.
  if (next && s === 'Complete') return void (await assert(send, unit, ctx.lastSeq, batch.batchId, next));
  await send('unit', unit, { type: 'RELEASE', batchId: batch.batchId, reason: `batch ended (${current} ${s})` });
}

async function assert(
  send: (type: string, id: string, event: Record<string, unknown>) => Promise<unknown>,
  unit: string, lastSeq: number, batchId: string, phase: string,
): Promise<void> {
  const seq = lastSeq + 1;
  const operation = phase.split('.').pop()!;
  await send('unit', unit, {
    type: 'ASSERT_CONTEXT', contextId: `${unit}/${batchId}/${seq}`, batchId, specVersion: '1', seq,
    unitProcedure: 'Reaction', operation, phase,
  });
}
