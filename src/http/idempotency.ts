import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import canonicalize from 'canonicalize';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decode, encode } from '../../nats/codec.ts';
import { PhaselineError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';

/** The request header carrying the client's idempotency key (CONTRACT.md §2). */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** The response header set on a replayed answer. */
export const REPLAYED_HEADER = 'idempotent-replayed';
const MAX_KEY_CHARS = 200;
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` turns Idempotency-Key handling off for a write route (e.g. logout). */
    idempotency?: boolean;
  }
}

/** A key whose first request is still running. */
interface PendingRecord {
  state: 'pending';
  bodyHash: string;
  startedAt: number;
}

/** The first answer to a key: replayed verbatim to every retry with the same body. */
interface DoneRecord {
  state: 'done';
  bodyHash: string;
  status: number;
  body: string;
  contentType?: string;
  at: number;
}

interface Slot {
  kvKey: string;
  revision: number;
  bodyHash: string;
}

/** Options of {@link registerIdempotency}; a pending marker older than `staleMs` (default 10 min) is taken over. */
export interface IdempotencyOptions {
  kv: KV;
  metrics: Metrics;
  staleMs?: number;
  now?: () => number;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

function readKey(request: FastifyRequest): string | undefined {
  const raw = request.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_KEY_CHARS) {
    const message = `must be one value of 1 to ${MAX_KEY_CHARS} characters`;
    throw new PhaselineError('ERR_HTTP_INVALID_REQUEST', `invalid headers: Idempotency-Key: ${message}`, {
      fields: [{ path: 'Idempotency-Key', in: 'headers', message }],
    });
  }
  return raw;
}

function sendReplay(reply: FastifyReply, rec: DoneRecord): FastifyReply {
  reply.code(rec.status).header(REPLAYED_HEADER, 'true');
  if (rec.contentType) reply.type(rec.contentType);
  return reply.send(rec.body);
}

/**
 * Makes every authenticated write idempotent under an `Idempotency-Key` header: the first answer (2xx or 4xx) is stored
 * and replayed to retries with the same body, so a retried command is applied once; a different body is 422, a retry
 * while the first still runs is 409, and a 5xx is forgotten so a retry can run (21 CFR 11.10(e): one operator action
 * gives one record, however often the network makes the client repeat it).
 */
export function registerIdempotency(app: FastifyInstance, opts: IdempotencyOptions): void {
  const { kv, metrics } = opts;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const now = opts.now ?? Date.now;
  const slots = new WeakMap<FastifyRequest, Slot>();
  metrics.describe('phaseline_http_idempotent_replays_total', 'counter', 'Writes answered from the idempotency store');
  metrics.describe('phaseline_http_idempotency_refused_total', 'counter', 'Idempotency-Key retries refused (reason)');

  const refuse = (reason: 'in_progress' | 'mismatch'): never => {
    metrics.inc('phaseline_http_idempotency_refused_total', { reason });
    if (reason === 'mismatch') {
      throw new PhaselineError('ERR_IDEMPOTENCY_MISMATCH', 'this Idempotency-Key was used with a different body');
    }
    throw new PhaselineError('ERR_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still running');
  };

  app.addHook('preHandler', async (request, reply) => {
    if (!WRITES.has(request.method) || !request.user || request.routeOptions.config.idempotency === false) return;
    const key = readKey(request);
    if (key === undefined) return;
    const kvKey = sha256([request.user.username, request.method, request.url, key].join('\n'));
    const bodyHash = sha256(canonicalize(request.body ?? null) ?? '');
    const pending = encode({ state: 'pending', bodyHash, startedAt: now() } satisfies PendingRecord);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        slots.set(request, { kvKey, bodyHash, revision: await kv.create(kvKey, pending) });
        return;
      } catch (err) {
        lastError = err; // most likely: the key exists
      }
      const entry = await kv.get(kvKey);
      if (!entry || entry.operation !== 'PUT') continue; // forgotten meanwhile: try to claim it again
      const rec = decode(entry.value) as PendingRecord | DoneRecord;
      if (rec.bodyHash !== bodyHash) refuse('mismatch');
      if (rec.state === 'done') {
        metrics.inc('phaseline_http_idempotent_replays_total');
        return sendReplay(reply, rec);
      }
      if (now() - rec.startedAt < staleMs) refuse('in_progress');
      try {
        // The first attempt died without an answer (crash): take its marker over.
        slots.set(request, { kvKey, bodyHash, revision: await kv.update(kvKey, pending, entry.revision) });
        request.log.warn({ kvKey }, 'took over a stale idempotency marker');
        return;
      } catch (err) {
        lastError = err;
      }
    }
    throw new PhaselineError('ERR_NATS_UNAVAILABLE', 'cannot record the Idempotency-Key', {}, { cause: lastError });
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const slot = slots.get(request);
    if (!slot) return payload;
    slots.delete(request);
    const status = reply.statusCode;
    const body = payload == null ? '' : typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
    try {
      if (status >= 500 || body === undefined) await kv.delete(slot.kvKey);
      else {
        const contentType = reply.getHeader('content-type');
        const rec: DoneRecord = { state: 'done', bodyHash: slot.bodyHash, status, body, at: now() };
        if (typeof contentType === 'string') rec.contentType = contentType;
        await kv.update(slot.kvKey, encode(rec), slot.revision);
      }
    } catch (err) {
      // The answer still goes out; a retry then finds the marker (409 until stale) rather than applying twice.
      request.log.error({ err, kvKey: slot.kvKey }, 'cannot store the idempotent answer');
    }
    return payload;
  });
}
