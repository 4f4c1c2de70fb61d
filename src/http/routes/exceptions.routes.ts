import { nuid } from '@nats-io/transport-node';
import { z } from 'zod';
import { rolesWith, type PlantConfig } from '../../../config/plant.schema.ts';
import type { InputOutcome } from '../../../actors/envelope.ts';
import { SIGNATURE_MEANINGS, type ExceptionInput, type SignatureInput } from '../../../machines/exception.machine.ts';
import { PhaselineError } from '../../errors.ts';
import { rejectionError } from '../../rejections.ts';
import type { PhaselineApp } from '../app.ts';
import { requireUser, type AuthUser } from '../auth/guard.ts';
import type { UserStore } from '../auth/users.ts';
import { readErrors, writeErrors } from '../openapi-errors.ts';
import { Page, answerOf, command, listOf, stamped, viewOf, type ActorPort } from './actor-port.ts';

const Params = z.object({ id: z.string().min(1).max(200) });
const Exception = z.looseObject({ id: z.string(), kind: z.string(), status: z.string(), critical: z.boolean(), source: z.string(), openedAt: z.string() });
const Text = z.string().trim().min(1).max(4000);
const Meaning = z.enum(SIGNATURE_MEANINGS);
const Signer = z.strictObject({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000), meaning: Meaning });

export interface ExceptionRouteDeps {
  port: ActorPort;
  users: UserStore;
  config: PlantConfig;
  /** Failed signature attempts are audited like failed logins (21 CFR 11.300(d)). */
  audit: (e: { at: number; who: string; action: string; target: string; reason?: string }) => Promise<void> | void;
}

/** A wall clock for the steps of one request: never earlier than now, always after the step before. */
function stepClock(now: () => number): () => number {
  let last = -Infinity;
  return () => (last = Math.max(now(), last + 1));
}

/**
 * MES exception (deviation) routes (CONTRACT.md §2; 21 CFR 11.50, 11.70, 11.200; Annex 11 §9, §14): list, raise,
 * acknowledge, investigate, sign with re-entered credentials (two distinct signers when critical), close, addenda.
 */
export async function exceptionRoutes(app: PhaselineApp, deps: ExceptionRouteDeps): Promise<void> {
  const { port, users, config } = deps;
  const view = (id: string) => viewOf(port, 'exception', id);
  const send = (user: AuthUser, id: string, event: Record<string, unknown>, at = port.clock()) =>
    command(port, 'exception', id, { ...stamped(port, user, { ...event, type: String(event.type) }), at });
  const answer = (outcome: InputOutcome) => answerOf('exception', outcome);

  app.get('/api/v1/exceptions', {
    onRequest: app.requirePermission('records.read'),
    schema: {
      summary: 'List MES exceptions, optionally of one batch or status', operationId: 'listExceptions',
      querystring: Page.extend({ batch: z.string().max(200).optional(), status: z.string().max(50).optional() }).strict(), response: { 200: z.array(Exception), ...readErrors(400) },
    },
  }, async (req, reply) => {
    return (await listOf(port, 'exception', req.query, reply))
      .filter((e) => (!req.query.batch || e.batchId === req.query.batch) && (!req.query.status || e.status.toLowerCase() === req.query.status.toLowerCase()))
      .sort((a, b) => a.openedAt.localeCompare(b.openedAt));
  });

  app.get('/api/v1/exceptions/:id', {
    onRequest: app.requirePermission('records.read'),
    schema: { summary: 'One MES exception with its signatures and addenda', operationId: 'getException', params: Params, response: { 200: Exception, ...readErrors(400, 404) } },
  }, async (req) => view(req.params.id));

  app.post('/api/v1/exceptions', {
    onRequest: app.requirePermission('sign.performer'),
    schema: {
      summary: 'Raise a manual exception', operationId: 'raiseException',
      body: z.strictObject({ critical: z.boolean().default(false), description: Text, batchId: z.string().max(200).optional(), phase: z.string().max(200).optional() }),
      response: { 201: Exception, ...writeErrors() },
    },
  }, async (req, reply) => {
    const user = requireUser(req);
    const id = `EXC-M-${nuid.next()}`;
    const input: ExceptionInput = {
      id, kind: 'manual', critical: req.body.critical, source: `user:${user.username}`, openedAt: port.clock(), openedBy: user.username,
      description: req.body.description, ...(req.body.batchId ? { batchId: req.body.batchId } : {}), ...(req.body.phase ? { phase: req.body.phase } : {}),
      secondSignerRoles: rolesWith(config, 'sign.second'), closeRoles: rolesWith(config, 'exception.close.critical'),
    };
    const outcome = await port.send('exception', id, { type: 'CREATE', at: input.openedAt, by: user.username, input }, { timeoutMs: port.timeoutMs });
    if (!outcome) throw new PhaselineError('ERR_ACTOR_TIMEOUT', `exception ${id} was not created within ${port.timeoutMs} ms; it stays queued`);
    if (outcome.rejection) throw rejectionError('exception', outcome.rejection);
    reply.code(201);
    return answer(outcome);
  });

  app.post('/api/v1/exceptions/:id/acknowledge', {
    onRequest: app.requirePermission('sign.performer'),
    schema: { summary: 'Acknowledge an exception', operationId: 'acknowledgeException', params: Params, body: z.strictObject({}).optional(), response: { 200: Exception, ...writeErrors(404) } },
  }, async (req) => {
    return answer(await send(requireUser(req), req.params.id, { type: 'ACKNOWLEDGE' }));
  });

  app.post('/api/v1/exceptions/:id/investigate', {
    onRequest: app.requirePermission('sign.performer'),
    schema: {
      summary: 'Record the investigation: cause and action', operationId: 'investigateException',
      params: Params, body: z.strictObject({ cause: Text, action: Text }), response: { 200: Exception, ...writeErrors(404) },
    },
  }, async (req) => {
    return answer(await send(requireUser(req), req.params.id, { type: 'INVESTIGATE', ...req.body }));
  });

  app.post('/api/v1/exceptions/:id/sign', {
    onRequest: app.requirePermission('sign.performer'),
    schema: {
      summary: 'Sign an exception with re-entered credentials (a second signer when critical)', operationId: 'signException',
      params: Params,
      body: z.strictObject({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000), meaning: Meaning, cause: Text.optional(), action: Text.optional(), second: Signer.optional() }),
      response: { 200: Exception, ...writeErrors(404) },
    },
  }, async (req) => {
    const user = requireUser(req);
    const { id } = req.params;
    const b = req.body;
    const current = await view(id); // 404 before any credential check
    if ((b.cause === undefined) !== (b.action === undefined)) {
      throw new PhaselineError('ERR_HTTP_INVALID_REQUEST', 'cause and action are given together', { fields: ['cause', 'action'] });
    }

    // 21 CFR 11.200(a)(1): the first signature of a session is given by the session's own user, both components re-entered.
    if (b.username !== user.username) throw new PhaselineError('ERR_AUTH_FORBIDDEN', 'the first signer must be the logged-in user', { username: b.username });
    const signer = async (s: { username: string; password: string; meaning: SignatureInput['meaning'] }) => {
      const verified = await users.verify(s.username, s.password);
      if (!verified) {
        await deps.audit({ at: port.clock(), who: s.username, action: 'signature.failed', target: `exception:${id}`, reason: 'invalid credentials' });
        throw new PhaselineError('ERR_AUTH_INVALID_CREDENTIALS', 'invalid username or password');
      }
      return { username: verified.username, name: verified.displayName, meaning: s.meaning, roles: verified.roles };
    };
    const signers = [await signer(b), ...(b.second ? [await signer(b.second)] : [])];
    // Refused before anything is applied, so a signing that cannot succeed leaves no investigation behind; the
    // machine checks the same again (21 CFR 11.50, 11.200: two distinct signers for a critical exception).
    if (current.critical && (!b.second || b.second.username === b.username)) {
      throw rejectionError('exception', { code: 'second_signer_required', message: 'a critical exception needs a second signature by another person' });
    }
    const second = signers[1];
    if (current.critical && second && !second.roles.some((r) => rolesWith(config, 'sign.second').includes(r))) {
      throw rejectionError('exception', { code: 'second_signer_not_permitted', message: `${second.username} may not give the second signature` });
    }
    // Each step of the call is stamped after the one before, and the signature after the steps it completes
    // (21 CFR 11.50(a)(2), 11.10(e); ALCOA+ "contemporaneous").
    const stamp = stepClock(port.clock);
    if (b.cause !== undefined && b.action !== undefined) {
      if ((await view(id)).status === 'Open') await send(user, id, { type: 'ACKNOWLEDGE' }, stamp());
      await send(user, id, { type: 'INVESTIGATE', cause: b.cause, action: b.action }, stamp());
    }
    const signedAt = stamp();
    const signatures: SignatureInput[] = signers.map((x) => ({ ...x, signedAt }));
    const outcome: InputOutcome = await send(user, id, { type: 'SIGN', signatures }, signedAt);
    return answer(outcome);
  });

  app.post('/api/v1/exceptions/:id/close', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Close a signed exception (a reviewer role)', operationId: 'closeException',
      params: Params, body: z.strictObject({ reason: z.string().max(2000).optional() }).optional(), response: { 200: Exception, ...writeErrors(404) },
    },
  }, async (req) => {
    const user = requireUser(req);
    if (!user.permissions.includes('exception.close.critical') && !user.permissions.includes('sign.second')) {
      throw new PhaselineError('ERR_AUTH_FORBIDDEN', 'closing an exception needs a reviewer role', { required: ['exception.close.critical', 'sign.second'] });
    }
    return answer(await send(user, req.params.id, { type: 'CLOSE', ...(req.body?.reason ? { reason: req.body.reason } : {}) }));
  });

  app.post('/api/v1/exceptions/:id/addendum', {
    onRequest: app.requirePermission('sign.performer'),
    schema: {
      summary: 'Add an addendum to an exception (signed content is never edited)', operationId: 'addExceptionAddendum',
      params: Params, body: z.strictObject({ text: Text }), response: { 200: Exception, ...writeErrors(404) },
    },
  }, async (req) => {
    return answer(await send(requireUser(req), req.params.id, { type: 'ADDENDUM', text: req.body.text }));
  });
}
