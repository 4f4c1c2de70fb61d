import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PhaselineError, type ErrorCode } from '../errors.ts';

/** Every error answer (CONTRACT.md §2): `{ error, message, ...details }`; loose so details pass the serializer. */
export const ErrorSchema = z.looseObject({
  error: z.string().describe('snake_case error code'),
  message: z.string().describe('a human sentence'),
});

/** One offending field of a 400 `invalid_request`. */
export interface FieldProblem {
  path: string;
  in: string;
  message: string;
}

/** Fastify's own client errors, mapped onto the error registry. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_HTTP_INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_HTTP_INVALID_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_HTTP_INVALID_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_HTTP_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_HTTP_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_NOT_FOUND: 'ERR_HTTP_NOT_FOUND',
};

function snake(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

/** The fields named by a fastify validation error (zod issues or ajv errors alike). */
export function fieldProblems(err: FastifyError): FieldProblem[] {
  const where = err.validationContext ?? 'body';
  return (err.validation ?? []).map((v) => {
    let path = v.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
    const missing = (v.params as { missingProperty?: unknown } | undefined)?.missingProperty;
    if (typeof missing === 'string') path = path ? `${path}.${missing}` : missing;
    return { path: path || `(${where})`, in: where, message: v.message ?? 'is invalid' };
  });
}

/** The status and body an error is answered with (5xx never carries the cause: it is logged instead). */
export function errorAnswer(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof PhaselineError) {
    if (err.status >= 500 && err.code === 'ERR_MACHINE_INTERNAL') {
      return { status: 500, body: { error: 'internal_error', message: 'internal error; the incident is logged' } };
    }
    return { status: err.status, body: { ...err.details, error: err.httpCode, message: err.message } };
  }
  const fe = err as Partial<FastifyError> | undefined;
  if (fe && Array.isArray(fe.validation)) {
    const fields = fieldProblems(fe as FastifyError);
    const message = `invalid ${fe.validationContext ?? 'request'}: ` + fields.map((f) => `${f.path}: ${f.message}`).join('; ');
    return { status: 400, body: { error: 'invalid_request', message, fields } };
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = fe?.code ? FASTIFY_CODES[fe.code] : undefined;
    const error = code ? new PhaselineError(code, '').httpCode : snake(STATUS_CODES[status] ?? 'bad request');
    // JSON.parse messages quote the body (a password, perhaps): never echo or log them.
    const message = fe?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'the request body is not valid JSON' : fe?.message;
    return { status, body: { error, message: message || STATUS_CODES[status] || 'bad request' } };
  }
  return { status: 500, body: { error: 'internal_error', message: 'internal error; the incident is logged' } };
}

/** The global error handler: every error answered in the contract shape; 5xx logged with its stack, never sent. */
export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = errorAnswer(err);
  const code = (err as { code?: unknown }).code;
  const retryAfter = err instanceof PhaselineError ? err.details.retryAfterSeconds : undefined;
  if (status === 429 && typeof retryAfter === 'number') reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
  if (status >= 500) request.log.error({ err, code, ...(err instanceof PhaselineError ? err.details : {}) }, 'request failed');
  else request.log.info({ status, code, error: body.error, detail: body.message }, 'request refused');
  return reply.code(status).send(body);
}

/** Unknown routes: 404 `not_found`. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
}
