import type { JetStreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import type { PlantConfig } from '../../../config/plant.schema.ts';
import { isoTime } from '../../../actors/iso-time.ts';
import type { Metrics } from '../../metrics.ts';
import { readAudit, verifyAudit } from '../../records/audit-read.ts';
import type { PublicKeys } from '../../records/audit-chain.ts';
import { PhaselineError } from '../../errors.ts';
import type { PhaselineApp } from '../app.ts';
import { readErrors } from '../openapi-errors.ts';

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
export async function recordRoutes(app: PhaselineApp, d: RecordsDeps): Promise<void> {
  const read = { onRequest: app.requirePermission('records.read') };

  app.get('/api/v1/tags', {
    ...read,
    schema: {
      summary: 'The tag dictionary, optionally of one unit or source', operationId: 'listTags',
      querystring: z.object({ unit: z.string().optional(), source: z.string().optional() }), response: { 200: Any, ...readErrors(400) },
    },
  }, async (req) => d.config.tags
    .filter((t) => (!req.query.unit || t.unit === req.query.unit) && (!req.query.source || t.source === req.query.source))
    .map((t) => ({ tag: t.tag, unit: t.unit, source: t.source, engUnit: t.engUnit, dataType: t.dataType, ...(t.limits ? { limits: t.limits } : {}), description: t.description })));

  app.get('/api/v1/sources', {
    ...read,
    schema: { summary: 'Registered edge sources with sequence, lag, gaps and buffer', operationId: 'listSources', response: { 200: Any, ...readErrors() } },
  }, async () => (await d.sources()) as Record<string, unknown>[]);

  app.get('/api/v1/frames', {
    ...read,
    schema: {
      summary: 'Event frames with their tag aggregates', operationId: 'listFrames',
      querystring: z.object({
        batch: z.string().optional(), unit: z.string().optional(), phase: z.string().optional(),
        kind: z.enum(['batch', 'unitProcedure', 'operation', 'phase']).optional(),
      }),
      response: { 200: Any, ...readErrors(400) },
    },
  }, async (req) => (await d.frames(req.query)) as Record<string, unknown>[]);

  app.get('/api/v1/frames/:id/lineage', {
    ...read,
    schema: {
      summary: 'The lineage of one sample in a frame: the telemetry message it came in', operationId: 'getFrameSampleLineage',
      params: z.object({ id: z.string().min(1) }),
      querystring: z.object({ tag: z.string().min(1), ts: SourceTime }),
      response: { 200: z.looseObject({}), ...readErrors(400, 404) },
    },
  }, async (req) => {
    const found = await d.lineage?.frame(req.params.id, req.query.tag, req.query.ts);
    if (!found) throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no frame ${req.params.id} or no tag ${req.query.tag}`);
    return found as Record<string, unknown>;
  });

  app.get('/api/v1/lineage', {
    ...read,
    schema: {
      summary: 'The lineage of one telemetry message: the frames its samples went into', operationId: 'getMessageLineage',
      querystring: z.object({
        src: z.string().min(1), epoch: z.string().min(1), seq: z.coerce.number().int().min(1),
        tag: z.string().optional(), ts: SourceTime.optional(),
      }),
      response: { 200: z.looseObject({}), ...readErrors(400, 404) },
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
      summary: 'Audit trail entries, optionally of one target or time range', operationId: 'listAuditEntries',
      querystring: z.object({
        target: z.string().optional(), from: z.string().optional(), to: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(10_000).optional(),
      }),
      response: { 200: Any, ...readErrors(400) },
    },
  }, async (req) => (await readAudit(d.jsm, req.query)).map((e) => ({
    // The entry's own stamps shown as ISO 8601 like every answer; its content stays as recorded, and the
    // self-verifying archive (GET /audit/export) keeps the hashed form (21 CFR 11.10(e), ALCOA+ "original").
    ...e, at: isoTime(e.at), ...(typeof e.recordedAt === 'number' ? { recordedAt: isoTime(e.recordedAt) } : {}),
  })) as unknown as Record<string, unknown>[]);

  app.get('/api/v1/audit/verify', {
    ...read,
    schema: {
      summary: 'Walk the whole audit chain and its signed checkpoints', operationId: 'verifyAuditTrail',
      response: { 200: z.looseObject({ ok: z.boolean(), checked: z.number() }), ...readErrors() },
    },
  }, async () => ({ ...(await verifyAudit(d.jsm, await d.publicKeys())) }) as { ok: boolean; checked: number });

  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics (text exposition format 0.0.4)', operationId: 'getMetrics', security: [],
      response: { 200: { description: 'every metric family, counters from zero', content: { 'text/plain; version=0.0.4': { schema: z.string() } } } },
    },
  }, async (_req, reply) => {
    d.refreshMetrics?.();
    return reply.type('text/plain; version=0.0.4').send(d.metrics.render());
  });
}
