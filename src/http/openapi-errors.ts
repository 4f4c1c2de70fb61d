import { ErrorSchema } from './error-handler.ts';

/** The error statuses the API answers with, each in the one error shape (CONTRACT.md §2). */
export const ERROR_STATUSES = [400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503] as const;

/** One error status. */
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

/** Error responses keyed by status, to spread into a route's `schema.response`. */
export type ErrorResponses = Partial<Record<ErrorStatus, typeof ErrorSchema>>;

/** What each status means on this API, with the `error` codes it carries (src/errors.ts): the response description. */
const MEANING: Record<ErrorStatus, string> = {
  400: '`invalid_request`: a parameter, query or body field failed validation; `fields` names each one',
  401: '`unauthenticated`: no valid, unexpired session (`Authorization: Bearer <token>`), or `invalid_credentials` for re-entered credentials',
  403: '`forbidden`: the user\'s roles lack the permission the route needs (named in `permission`), or the request is not the user\'s to make',
  404: '`not_found`: no such id',
  409: 'refused in the current state (`command_not_allowed` with `state` and `allowed`, and the other state conflicts), or `request_in_progress` for a retry of an Idempotency-Key still running',
  412: '`permissive_failed`: a permissive is not met; `reasons` names each one',
  413: '`payload_too_large`: the body exceeds 1 MiB',
  415: '`unsupported_media_type`: the body is not JSON',
  422: 'understood but refused (`reason_required`, `second_signer_required`, …), or `idempotency_key_reused` with another body',
  429: '`rate_limited`: too many requests; retry later',
  503: '`timeout`, `nats_unavailable` or `actor_quarantined`: nothing was lost, retry (a timed-out request stays queued)',
};

/** Statuses every route behind a permission can answer. */
const GUARDED: ErrorStatus[] = [401, 403];
/**
 * Statuses every guarded JSON write can answer besides its own refusals: a body that fails validation, is too large or
 * not JSON, the Idempotency-Key answers (409 in progress, 422 reused with another body) and an unavailable broker.
 */
const WRITE: ErrorStatus[] = [400, 401, 403, 409, 413, 415, 422, 503];

/**
 * The OpenAPI error responses of one route: the error body `{ error, message, ...details }` under each status, with
 * what the status means. Spread into a route's `schema.response` beside its success answer.
 */
export function errorResponses(...statuses: ErrorStatus[]): ErrorResponses {
  const out: ErrorResponses = {};
  for (const status of [...new Set(statuses)].sort((a, b) => a - b)) out[status] = ErrorSchema.describe(MEANING[status]);
  return out;
}

/** A guarded read: 401 and 403, plus the statuses given (400 when it validates params or a query, 404 for an id). */
export function readErrors(...more: ErrorStatus[]): ErrorResponses {
  return errorResponses(...GUARDED, ...more);
}

/** A guarded, idempotent JSON write: 400, 401, 403, 409, 413, 415, 422 and 503, plus the statuses given. */
export function writeErrors(...more: ErrorStatus[]): ErrorResponses {
  return errorResponses(...WRITE, ...more);
}
