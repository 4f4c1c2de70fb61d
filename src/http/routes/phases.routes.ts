import { z } from 'zod';
import { PHASE_STATES } from '../../../machines/phase.machine.ts';
import { decode } from '../../../nats/codec.ts';
import { subjects } from '../../../nats/subjects.ts';
import { PhaselineError } from '../../errors.ts';
import type { PhaselineApp } from '../app.ts';
import { requireUser } from '../auth/guard.ts';
import { readErrors, writeErrors } from '../openapi-errors.ts';
import { Page, answerOf, command, listOf, stamped, viewOf, type ActorPort } from './actor-port.ts';

const Commands = ['start', 'stop', 'hold', 'restart', 'abort', 'reset', 'pause', 'resume'] as const;
const Params = z.object({ id: z.string().min(1).max(200) });
const Phase = z.looseObject({ id: z.string(), unit: z.string(), state: z.string(), execution: z.string(), mode: z.string() });

/** ISA-88 phase routes (CONTRACT.md §2; ISA-88.01 §5.7): read phases, command them, complete manual ones. */
export async function phaseRoutes(app: PhaselineApp, port: ActorPort): Promise<void> {
  app.get('/api/v1/phases', {
    onRequest: app.requirePermission('records.read'),
    schema: {
      summary: 'List phases, optionally of one unit', operationId: 'listPhases',
      querystring: Page.extend({ unit: z.string().optional() }), response: { 200: z.array(Phase), ...readErrors(400) },
    },
  }, async (req, reply) => (await listOf(port, 'phase', req.query, reply)).filter((v) => !req.query.unit || v.unit === req.query.unit));

  app.get('/api/v1/phases/:id', {
    onRequest: app.requirePermission('records.read'),
    schema: {
      summary: 'One phase with the commands its state allows', operationId: 'getPhase',
      params: Params, response: { 200: Phase, ...readErrors(400, 404) },
    },
  }, async (req) => (await viewOf(port, 'phase', req.params.id)));

  app.post('/api/v1/phases/:id/commands', {
    onRequest: app.requirePermission('phase.command'),
    schema: {
      summary: 'Send an ISA-88 command to a phase; answers the state after it', operationId: 'commandPhase',
      params: Params,
      body: z.strictObject({ command: z.enum(Commands), reason: z.string().max(2000).optional() }),
      response: { 200: Phase, ...writeErrors(404, 412) },
    },
  }, async (req) => {
    const user = requireUser(req);
    const { id } = req.params;
    const automatic = (await viewOf(port, 'phase', id)).execution === 'automatic';
    // For an automatic phase the answer is the state the control system reports: listen before sending.
    const reported = automatic ? nextTransition(port, id) : undefined;
    try {
      const outcome = await command(port, 'phase', id, stamped(port, user, {
        type: req.body.command.toUpperCase(), ...(req.body.reason ? { reason: req.body.reason } : {}),
      }));
      if (reported && outcome.state === outcome.from) {
        const ok = await reported.wait(outcome.seq);
        if (!ok) {
          throw new PhaselineError('ERR_ACTOR_TIMEOUT',
            `the ${req.body.command} command was sent to the control system, which has not reported a new state within ${port.timeoutMs} ms`,
            { state: outcome.state, command: req.body.command });
        }
        return (await viewOf(port, 'phase', id)); // persisted before the event was published
      }
      return answerOf('phase', outcome);
    } finally {
      reported?.close();
    }
  });

  app.post('/api/v1/phases/:id/mode', {
    onRequest: app.requirePermission('phase.command'),
    schema: {
      summary: 'Change a phase\'s mode (never its procedural state)', operationId: 'setPhaseMode',
      params: Params,
      body: z.strictObject({ mode: z.enum(['Automatic', 'Semi-automatic', 'Manual']), reason: z.string().max(2000).optional() }),
      response: { 200: Phase, ...writeErrors(404) },
    },
  }, async (req) => {
    // ISA-88.01 §5.7.1 procedural element modes; a mode change never changes the procedural state (audited).
    const user = requireUser(req);
    return answerOf('phase', await command(port, 'phase', req.params.id, stamped(port, user, {
      type: 'SET_MODE', mode: req.body.mode, ...(req.body.reason ? { reason: req.body.reason } : {}),
    })));
  });

  app.post('/api/v1/phases/:id/complete', {
    onRequest: app.requirePermission('phase.command'),
    schema: {
      summary: 'Report that a manual phase\'s transient state has finished', operationId: 'completePhase',
      params: Params,
      body: z.strictObject({ from: z.enum(PHASE_STATES).optional(), reason: z.string().max(2000).optional() }).default({}),
      response: { 200: Phase, ...writeErrors(404) },
    },
  }, async (req) => {
    const user = requireUser(req);
    const body = req.body ?? {};
    return answerOf('phase', await command(port, 'phase', req.params.id, stamped(port, user, {
      type: 'STATE_COMPLETE', ...(body.from ? { from: body.from } : {}), ...(body.reason ? { reason: body.reason } : {}),
    })));
  });
}

/** Waits for the phase's next state transition after input `seq` (an `evt.phase.<id>` message). */
function nextTransition(port: ActorPort, id: string) {
  const sub = port.nc.subscribe(subjects.event('phase', id));
  return {
    async wait(afterSeq: number): Promise<boolean> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), port.timeoutMs)));
      const seen = (async () => {
        for await (const m of sub) {
          const e = decode(m.data) as { seq?: number };
          if ((e.seq ?? 0) > afterSeq) return true;
        }
        return false;
      })();
      const r = await Promise.race([seen, timeout]);
      clearTimeout(timer);
      return r;
    },
    close: () => sub.unsubscribe(),
  };
}
