import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PERMISSIONS } from '../../../config/plant.schema.ts';
import { PhaselineError } from '../../errors.ts';
import type { Metrics } from '../../metrics.ts';
import { bearerToken, requireUser } from '../auth/guard.ts';
import { sessionUserOf, type SessionStore } from '../auth/sessions.ts';
import type { UserStore } from '../auth/users.ts';
import { errorResponses } from '../openapi-errors.ts';

/** An audit entry about authentication, handed to the injected audit port (shape of the audit writer's request). */
export interface AuthAuditEntry {
  at: number;
  who: string;
  action: 'auth.login' | 'auth.login_failed' | 'auth.logout';
  target: string;
  reason?: string;
}

/** What `GET /health` reports besides `status`; `nats` is required, anything else is passed through. */
export interface HealthReport {
  nats: 'connected' | 'disconnected';
  [key: string]: unknown;
}

/** The ports the auth and health routes need. */
export interface AuthRoutesDeps {
  users: UserStore;
  sessions: SessionStore;
  metrics: Metrics;
  audit: (entry: AuthAuditEntry) => void | Promise<void>;
  health: () => HealthReport | Promise<HealthReport>;
}

/** Body of `POST /auth/login`. */
export const LoginBody = z.strictObject({
  username: z.string().min(1).max(128),
  password: z.string().min(1).max(1024),
});

/** The user as a session carries it. */
export const SessionUserSchema = z.object({
  username: z.string(),
  displayName: z.string(),
  roles: z.array(z.string()),
});

/** Answer of `POST /auth/login`. */
export const LoginAnswer = z.object({
  token: z.string().describe('bearer token for the Authorization header'),
  expiresAt: z.string().describe('absolute expiry (ISO 8601); the session also ends after inactivity'),
  user: SessionUserSchema,
});

/** Answer of `GET /auth/me`. */
export const MeAnswer = SessionUserSchema.extend({ permissions: z.array(z.enum(PERMISSIONS)) });

/** Answer of `GET /health`: `degraded` while the broker is disconnected. */
export const HealthAnswer = z.looseObject({
  status: z.enum(['ok', 'degraded']),
  nats: z.enum(['connected', 'disconnected']),
});

/**
 * `POST /auth/login`, `POST /auth/logout`, `GET /auth/me` and `GET /health`. Every login attempt is audited and counted
 * (21 CFR 11.300(d): attempts at unauthorized use are detected and reported; 11.10(e) audit trail).
 */
export function registerAuthRoutes(root: FastifyInstance, deps: AuthRoutesDeps): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const { users, sessions, metrics, audit } = deps;
  metrics.describe('phaseline_auth_logins_total', 'counter', 'Login attempts by result');

  app.get(
    '/api/v1/health',
    { schema: { tags: ['system'], summary: 'Liveness and broker connection', operationId: 'getHealth', security: [], response: { 200: HealthAnswer } } },
    async () => {
      const report = await deps.health();
      return { ...report, status: report.nats === 'connected' ? ('ok' as const) : ('degraded' as const) };
    },
  );

  app.post(
    '/api/v1/auth/login',
    {
      config: { idempotency: false },
      schema: {
        tags: ['auth'],
        summary: 'Log in with username and password; returns a bearer token',
        operationId: 'login',
        security: [],
        body: LoginBody,
        response: { 200: LoginAnswer, ...errorResponses(400, 401, 413, 415) },
      },
    },
    async (request) => {
      const { username, password } = request.body;
      const user = await users.verify(username, password);
      const at = Date.now();
      if (!user) {
        metrics.inc('phaseline_auth_logins_total', { result: 'failed' });
        // The same reason for an unknown user and a wrong password: the audit trail is readable by every role.
        await audit({ at, who: username, action: 'auth.login_failed', target: `user:${username}`, reason: 'invalid credentials' });
        throw new PhaselineError('ERR_AUTH_INVALID_CREDENTIALS', 'unknown user or wrong password');
      }
      const result = await sessions.login(sessionUserOf(user));
      metrics.inc('phaseline_auth_logins_total', { result: 'ok' });
      await audit({ at, who: user.username, action: 'auth.login', target: `user:${user.username}` });
      return result;
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      onRequest: root.authenticate,
      config: { idempotency: false },
      schema: { tags: ['auth'], summary: 'End the current session', operationId: 'logout', response: { 204: z.undefined(), ...errorResponses(401) } },
    },
    async (request, reply) => {
      const user = requireUser(request);
      await sessions.logout(bearerToken(request)!);
      await audit({ at: Date.now(), who: user.username, action: 'auth.logout', target: `user:${user.username}` });
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/auth/me',
    {
      onRequest: root.authenticate,
      schema: { tags: ['auth'], summary: 'The current user and permissions', operationId: 'getCurrentUser', response: { 200: MeAnswer, ...errorResponses(401) } },
    },
    async (request) => {
      const { username, displayName, roles, permissions } = requireUser(request);
      return { username, displayName, roles, permissions };
    },
  );
}
