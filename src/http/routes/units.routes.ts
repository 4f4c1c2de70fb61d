import { z } from 'zod';
import type { PhaselineApp } from '../app.ts';
import { requireUser } from '../auth/guard.ts';
import { ErrorSchema } from '../error-handler.ts';
import { command, viewOf, type ActorPort } from './actor-port.ts';

const Params = z.object({ id: z.string().min(1).max(200) });
const Unit = z.looseObject({ id: z.string(), state: z.string() });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 503: ErrorSchema };
const Name = z.string().min(1).max(200);

/** ISA-88 unit routes: status, MES context assertion and release (CONTRACT.md §2; ISA-88.01 §5.6 allocation). */
export function unitRoutes(app: PhaselineApp, port: ActorPort): void {
  app.get('/api/v1/units', {
    onRequest: app.requirePermission('records.read'),
    schema: { response: { 200: z.array(Unit) } },
  }, async () => {
    const kind = port.host.kind('unit')!;
    return port.host.list('unit').map((r) => kind.view(r.id, r.snapshot)) as z.infer<typeof Unit>[];
  });

  app.get('/api/v1/units/:id', {
    onRequest: app.requirePermission('records.read'),
    schema: { params: Params, response: { 200: Unit, ...errors } },
  }, async (req) => viewOf(port, 'unit', req.params.id) as z.infer<typeof Unit>);

  app.post('/api/v1/units/:id/context', {
    onRequest: app.requirePermission('context.assert'),
    schema: {
      params: Params,
      body: z.strictObject({
        batchId: Name, specVersion: z.union([z.string().min(1).max(100), z.number()]), seq: z.number().int().min(1),
        unitProcedure: Name.optional(), operation: Name.optional(), phase: Name.optional(),
      }),
      response: { 200: z.looseObject({ contextId: z.string(), seq: z.number(), gap: z.boolean().optional() }), ...errors },
    },
  }, async (req) => {
    const user = requireUser(req);
    const { id } = req.params;
    const b = req.body;
    // The context id is derived, not random: a retried assertion names the same context.
    const contextId = `${id}/${b.batchId}/${b.seq}`;
    const outcome = await command(port, 'unit', id, { type: 'ASSERT_CONTEXT', at: Date.now(), by: user.username, contextId, ...b });
    const v = outcome.view ?? {};
    return { contextId: String(v.contextId ?? contextId), seq: Number(v.seq ?? b.seq), ...(v.gap ? { gap: true, previousSeq: v.previousSeq } : {}) };
  });

  app.post('/api/v1/units/:id/release', {
    onRequest: app.requirePermission('context.assert'),
    schema: { params: Params, body: z.strictObject({ batchId: Name, reason: z.string().max(2000).optional() }), response: { 200: Unit, ...errors } },
  }, async (req) => {
    const user = requireUser(req);
    await command(port, 'unit', req.params.id, { type: 'RELEASE', at: Date.now(), by: user.username, ...req.body });
    return viewOf(port, 'unit', req.params.id) as z.infer<typeof Unit>;
  });
}
