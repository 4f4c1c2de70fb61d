import type { JetStreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import type { PlantConfig } from '../../../config/plant.schema.ts';
import type { Metrics } from '../../metrics.ts';
import { readAudit, verifyAudit } from '../../records/audit-read.ts';
import type { PublicKeys } from '../../records/audit-chain.ts';
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
}

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
