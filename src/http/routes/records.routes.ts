import type { JetStreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import type { PlantConfig } from '../../../config/plant.schema.ts';
import type { Metrics } from '../../metrics.ts';
import { readAudit, verifyAudit } from '../../records/audit-read.ts';
import type { PublicKeys } from '../../records/audit-chain.ts';
import { PhaselineError } from '../../errors.ts';
import type { PhaselineApp } from '../app.ts';

export interface RecordsDeps {
  config: PlantConfig;
  jsm: JetStreamManager;
  metrics: Metrics;
  publicKeys: () => PublicKeys | Promise<PublicKeys>;
  sources: () => Promise<unknown[]> | unknown[];
  frames: (filter: { batch?: string; unit?: string; phase?: string; kind?: string }) => Promise<unknown[]>;
  /** Called before `/metrics` renders, to refresh gauges. */
  refreshMetrics?: () => void;
  /** Sample lineage lookups (undefined answer: 404). */
  lineage?: {
    frame(id: string, tag: string, ts: number): Promise<unknown | undefined>;
    message(src: string, epoch: string, seq: number, tag?: string, ts?: number): Promise<unknown | undefined>;
  };
}

/** A source time given as epoch milliseconds or an ISO 8601 date-time. */
const SourceTime = z.union([z.string(), z.number()]).transform((x, ctx) => {
  const n = typeof x === 'number' ? x : /^-?\d+(\.\d+)?$/.test(x) ? Number(x) : Date.parse(x);
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: 'epoch milliseconds or an ISO 8601 date-time' });
    return z.NEVER;
  }
  return n;
});

const Any = z.array(z.looseObject({}));

/** Read-only record routes: tag dictionary, sources, event frames, audit trail and its verification, metrics. */
export function recordRoutes(app: PhaselineApp, d: RecordsDeps): void {
  const read = { onRequest: app.requirePermission('records.read') };

  app.get('/api/v1/tags', {
    ...read,
    schema: { querystring: z.object({ unit: z.string().optional(), source: z.string().optional() }), response: { 200: Any } },
  }, async (req) => d.config.tags
    .filter((t) => (!req.query.unit || t.unit === req.query.unit) && (!req.query.source || t.source === req.query.source))
    .map((t) => ({ tag: t.tag, unit: t.unit, source: t.source, engUnit: t.engUnit, dataType: t.dataType, ...(t.limits ? { limits: t.limits } : {}), description: t.description })));

  app.get('/api/v1/sources', { ...read, schema: { response: { 200: Any } } }, async () => (await d.sources()) as Record<string, unknown>[]);

  app.get('/api/v1/frames', {
    ...read,
    schema: {
      querystring: z.object({
        batch: z.string().optional(), unit: z.string().optional(), phase: z.string().optional(),
        kind: z.enum(['batch', 'unitProcedure', 'operation', 'phase']).optional(),
      }),
      response: { 200: Any },
    },
  }, async (req) => (await d.frames(req.query)) as Record<string, unknown>[]);

  app.get('/api/v1/frames/:id/lineage', {
    ...read,
    schema: {
      params: z.object({ id: z.string().min(1) }),
      querystring: z.object({ tag: z.string().min(1), ts: SourceTime }),
      response: { 200: z.looseObject({}) },
    },
  }, async (req) => {
    const found = await d.lineage?.frame(req.params.id, req.query.tag, req.query.ts);
    if (!found) throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no frame ${req.params.id} or no tag ${req.query.tag}`);
    return found as Record<string, unknown>;
  });

  app.get('/api/v1/lineage', {
    ...read,
    schema: {
      querystring: z.object({
        src: z.string().min(1), epoch: z.string().min(1), seq: z.coerce.number().int().min(1),
        tag: z.string().optional(), ts: SourceTime.optional(),
      }),
      response: { 200: z.looseObject({}) },
    },
  }, async (req) => {
    const { src, epoch, seq, tag, ts } = req.query;
    const found = await d.lineage?.message(src, epoch, seq, tag, ts);
    if (!found) throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no lineage for (${src}, ${epoch}, ${seq})`);
    return found as Record<string, unknown>;
  });

  app.get('/api/v1/audit', {
    ...read,
    schema: {
      querystring: z.object({
        target: z.string().optional(), from: z.string().optional(), to: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(10_000).optional(),
      }),
      response: { 200: Any },
    },
  }, async (req) => (await readAudit(d.jsm, req.query)) as unknown as Record<string, unknown>[]);

  app.get('/api/v1/audit/verify', {
    ...read,
    schema: { response: { 200: z.looseObject({ ok: z.boolean(), checked: z.number() }) } },
  }, async () => ({ ...(await verifyAudit(d.jsm, await d.publicKeys())) }) as { ok: boolean; checked: number });

  app.get('/metrics', async (_req, reply) => {
    d.refreshMetrics?.();
    return reply.type('text/plain; version=0.0.4').send(d.metrics.render());
  });
}
