import { z } from 'zod';
import type { PhaselineApp } from '../app.ts';
import { requireUser } from '../auth/guard.ts';
import { readErrors, writeErrors } from '../openapi-errors.ts';
import { Page, answerOf, command, listOf, stamped, viewOf, type ActorPort } from './actor-port.ts';

const Params = z.object({ id: z.string().min(1).max(200) });
const Alarm = z.looseObject({ id: z.string(), state: z.string(), flags: z.record(z.string(), z.boolean()), priority: z.string(), critical: z.boolean(), unit: z.string() });
const Reason = z.string().trim().min(1).max(2000);
const Bool = z.enum(['true', 'false']).transform((v) => v === 'true');

/** The unit's current batch and phase context, for an alarm raised on it (CONTRACT.md §2 `GET /alarms`). */
async function withContext(port: ActorPort, view: Record<string, unknown>): Promise<Record<string, unknown>> {
  const unit = await port.reader.record('unit', String(view.unit));
  const ctx = (unit?.snapshot.context as { context?: { batchId?: string; phase?: string } } | undefined)?.context;
  return { ...view, ...(ctx?.batchId ? { batchId: ctx.batchId } : {}), ...(ctx?.phase ? { phase: ctx.phase } : {}) };
}

/**
 * ISA-18.2 alarm routes (STANDARDS.md §3; CONTRACT.md §2): the mirrored alarm state, and operator requests —
 * acknowledge, shelve with a reason and an expiry, unshelve, out of service and back — which the alarm actor sends to
 * the control system as allowlisted `cmd.<src>` writes and records; the state changes when the control system reports.
 */
export async function alarmRoutes(app: PhaselineApp, port: ActorPort): Promise<void> {
  app.get('/api/v1/alarms', {
    onRequest: app.requirePermission('records.read'),
    schema: {
      summary: 'List alarms (ISA-18.2 states), optionally active ones or of one unit', operationId: 'listAlarms',
      querystring: Page.extend({ active: Bool.optional(), unit: z.string().max(200).optional() }).strict(), response: { 200: z.array(Alarm), ...readErrors(400) },
    },
  }, async (req, reply) => {
    const views = (await listOf(port, 'alarm', req.query, reply));
    const wanted = views.filter((a) => (req.query.active === undefined || a.flags.active === req.query.active) && (!req.query.unit || a.unit === req.query.unit));
    return (await Promise.all(wanted.map((a) => withContext(port, a))));
  });

  app.get('/api/v1/alarms/:id', {
    onRequest: app.requirePermission('records.read'),
    schema: { summary: 'One alarm with its unit\'s batch and phase', operationId: 'getAlarm', params: Params, response: { 200: Alarm, ...readErrors(400, 404) } },
  }, async (req) => (await withContext(port, await viewOf(port, 'alarm', req.params.id))));

  const request = (path: string, type: string, permission: 'alarm.ack' | 'alarm.shelve', body: z.ZodType<Record<string, unknown>>, summary: string, operationId: string) =>
    app.post(`/api/v1/alarms/:id/${path}`, {
      onRequest: app.requirePermission(permission),
      schema: { summary, operationId, params: Params, body, response: { 200: Alarm, ...writeErrors(404) } },
    }, async (req) => {
      const user = requireUser(req);
      const b = req.body as { until?: string | number };
      const until = b.until === undefined ? {} : { until: typeof b.until === 'number' ? b.until : Date.parse(b.until) };
      const outcome = await command(port, 'alarm', req.params.id, stamped(port, user, { ...(req.body as object), ...until, type }));
      return (await withContext(port, answerOf('alarm', outcome)));
    });
  request('ack', 'ACK_REQUEST', 'alarm.ack', z.strictObject({ comment: z.string().max(2000).optional() }),
    'Request acknowledgement of an alarm from the control system', 'acknowledgeAlarm');
  request('shelve', 'SHELVE_REQUEST', 'alarm.shelve', z.strictObject({
    reason: Reason, until: z.union([z.iso.datetime({ offset: true }), z.number().int().positive()]),
  }), 'Request shelving of an alarm with a reason and an expiry', 'shelveAlarm');
  request('unshelve', 'UNSHELVE_REQUEST', 'alarm.shelve', z.strictObject({ reason: Reason.optional() }), 'Request unshelving of an alarm', 'unshelveAlarm');
  request('out-of-service', 'OUT_OF_SERVICE_REQUEST', 'alarm.shelve', z.strictObject({ reason: Reason }),
    'Request taking an alarm out of service, with a reason', 'removeAlarmFromService');
  request('return-to-service', 'RETURN_TO_SERVICE_REQUEST', 'alarm.shelve', z.strictObject({ reason: Reason.optional() }),
    'Request returning an alarm to service', 'returnAlarmToService');
}
