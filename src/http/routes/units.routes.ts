import { z } from 'zod';
import type { Permission } from '../../../config/plant.schema.ts';
import type { PhaselineApp } from '../app.ts';
import { requireUser } from '../auth/guard.ts';
import { readErrors, writeErrors } from '../openapi-errors.ts';
import { Page, answerOf, command, listOf, stamped, viewOf, type ActorPort } from './actor-port.ts';

const Params = z.object({ id: z.string().min(1).max(200) });
const Unit = z.looseObject({ id: z.string(), state: z.string() });
const Name = z.string().min(1).max(200);
/** `cip/start` → `unitCipStart`: the OpenAPI operationId of a GMP equipment status route. */
const operationIdOf = (url: string): string => `unit${url.split(/[/-]/).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')}`;

/**
 * ISA-88 unit routes (CONTRACT.md §2; ISA-88.01 §5.6 allocation): status, MES context assertion, allocation and
 * release, and the GMP equipment status records: line clearance, CIP/SIP start and result, maintenance, mark dirty.
 */
export async function unitRoutes(app: PhaselineApp, port: ActorPort): Promise<void> {
  app.get('/api/v1/units', {
    onRequest: app.requirePermission('records.read'),
    schema: { summary: 'List units with their allocation and equipment status', operationId: 'listUnits', querystring: Page, response: { 200: z.array(Unit), ...readErrors(400) } },
  }, async (req, reply) => (await listOf(port, 'unit', req.query, reply)));

  app.get('/api/v1/units/:id', {
    onRequest: app.requirePermission('records.read'),
    schema: { summary: 'One unit', operationId: 'getUnit', params: Params, response: { 200: Unit, ...readErrors(400, 404) } },
  }, async (req) => (await viewOf(port, 'unit', req.params.id)));

  app.post('/api/v1/units/:id/context', {
    onRequest: app.requirePermission('context.assert'),
    schema: {
      summary: 'The MES asserts batch and procedure context on the unit', operationId: 'assertUnitContext',
      params: Params,
      body: z.strictObject({
        batchId: Name, specVersion: z.union([z.string().min(1).max(100), z.number()]), seq: z.number().int().min(1),
        unitProcedure: Name.optional(), operation: Name.optional(), phase: Name.optional(),
      }),
      response: { 200: z.looseObject({ contextId: z.string(), seq: z.number(), gap: z.boolean().optional() }), ...writeErrors(404) },
    },
  }, async (req) => {
    const user = requireUser(req);
    const { id } = req.params;
    const b = req.body;
    // The context id is derived, not random: a retried assertion names the same context.
    const contextId = `${id}/${b.batchId}/${b.seq}`;
    const outcome = await command(port, 'unit', id, stamped(port, user, { type: 'ASSERT_CONTEXT', contextId, ...b }));
    const v: Record<string, unknown> = outcome.view ?? {}; // the view with the assertion's reply (context id, gap)
    return { contextId: String(v.contextId ?? contextId), seq: Number(v.seq ?? b.seq), ...(v.gap ? { gap: true, previousSeq: v.previousSeq } : {}) };
  });

  app.post('/api/v1/units/:id/release', {
    onRequest: app.requirePermission('context.assert'),
    schema: {
      summary: 'Release the unit from its batch', operationId: 'releaseUnit',
      params: Params, body: z.strictObject({ batchId: Name, reason: z.string().max(2000).optional() }), response: { 200: Unit, ...writeErrors(404) },
    },
  }, async (req) => {
    const user = requireUser(req);
    return answerOf('unit', await command(port, 'unit', req.params.id, stamped(port, user, { type: 'RELEASE', ...req.body })));
  });

  // GMP equipment status: each route appends one input to the unit's inbox and answers with the unit's view.
  const input = (url: string, permission: Permission, type: string, body: z.ZodObject, summary: string) =>
    app.post(`/api/v1/units/:id/${url}`, {
      onRequest: app.requirePermission(permission),
      schema: { summary, operationId: operationIdOf(url), params: Params, body, response: { 200: Unit, ...writeErrors(404) } },
    }, async (req) => {
      const user = requireUser(req);
      return answerOf('unit', await command(port, 'unit', req.params.id, stamped(port, user, { ...(req.body as Record<string, unknown>), type })));
    });
  const Reason = z.string().max(2000);
  const Ok = z.strictObject({ ok: z.boolean(), reason: Reason.optional() });
  input('allocate', 'context.assert', 'ALLOCATE', z.strictObject({ batchId: Name }),
    'Allocate the unit to a batch: clean or sterile (per equipment), line-cleared, not in maintenance');
  input('line-clearance', 'unit.line_clearance', 'LINE_CLEARANCE', z.strictObject({ batchId: Name.optional(), reason: Reason.optional() }),
    'Record a line clearance (who and when from the session), optionally for one batch');
  input('cip/start', 'unit.clean', 'CIP_START', z.strictObject({ deviationId: Name.optional(), reason: Reason.optional() }),
    'Start CIP on a dirty unit; after the dirty-hold time only with a deviation reference');
  input('cip/complete', 'unit.cleaning_result', 'CIP_COMPLETE', Ok, 'The control system reports the CIP result (or a supervisor enters it)');
  input('sip/start', 'unit.clean', 'SIP_START', z.strictObject({ reason: Reason.optional() }), 'Start SIP on a clean unit');
  input('sip/complete', 'unit.cleaning_result', 'SIP_COMPLETE', Ok, 'The control system reports the SIP result (or a supervisor enters it)');
  input('maintenance/start', 'unit.maintenance', 'MAINTENANCE_START', z.strictObject({ reason: Reason.min(1) }),
    'Take the unit out of service for maintenance');
  input('maintenance/end', 'unit.maintenance', 'MAINTENANCE_END', z.strictObject({ reason: Reason.optional() }),
    'End maintenance: the unit is available and dirty');
  input('mark-dirty', 'unit.clean', 'MARK_DIRTY', z.strictObject({ reason: Reason.optional() }), 'Mark the unit dirty');
}
