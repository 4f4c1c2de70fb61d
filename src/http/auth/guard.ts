import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Permission, Security } from '../../../config/plant.schema.ts';
import { PhaselineError } from '../../errors.ts';
import type { SessionStore } from './sessions.ts';

/** The authenticated caller of a request, with the permissions its roles grant. */
export interface AuthUser {
  username: string;
  displayName: string;
  roles: string[];
  permissions: Permission[];
}

declare module 'fastify' {
  interface FastifyInstance {
    /** An onRequest hook: 401 without a valid session, 403 when the caller's roles lack `permission`. */
    requirePermission(permission: Permission): onRequestAsyncHookHandler;
    /** An onRequest hook: 401 without a valid session; any authenticated user passes. */
    authenticate: onRequestAsyncHookHandler;
  }
  interface FastifyRequest {
    /** Set by `authenticate` / `requirePermission`; undefined on public routes. */
    user?: AuthUser;
  }
}

/** The permissions granted by a set of roles (unknown roles grant nothing). */
export function permissionsOf(roles: readonly string[], security: Pick<Security, 'roles'>): Permission[] {
  const out = new Set<Permission>();
  for (const role of roles) for (const p of security.roles[role] ?? []) out.add(p);
  return [...out];
}

/** The bearer token of a request, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header) : null;
  return m?.[1];
}

/** The authenticated user of a request; throws 401 when the route forgot its guard. */
export function requireUser(request: FastifyRequest): AuthUser {
  if (!request.user) throw new PhaselineError('ERR_AUTH_UNAUTHENTICATED', 'authentication required');
  return request.user;
}

/**
 * Registers `app.authenticate` and `app.requirePermission(permission)`: every protected request needs a valid,
 * unexpired session, and its roles must grant the permission (21 CFR 11.10(d) limiting system access to authorized
 * individuals; 11.10(g) authority checks).
 */
export function registerGuard(app: FastifyInstance, deps: { sessions: SessionStore; security: Security }): void {
  app.decorateRequest('user', undefined);

  const authenticate = async (request: FastifyRequest): Promise<AuthUser> => {
    const token = bearerToken(request);
    if (!token) throw new PhaselineError('ERR_AUTH_UNAUTHENTICATED', 'a bearer token is required');
    const session = await deps.sessions.validate(token);
    if (typeof session === 'string') {
      request.log.info({ why: session }, 'session refused');
      throw new PhaselineError('ERR_AUTH_UNAUTHENTICATED', 'the session is unknown, expired or ended; log in again');
    }
    const user: AuthUser = {
      username: session.username,
      displayName: session.displayName,
      roles: session.roles,
      permissions: permissionsOf(session.roles, deps.security),
    };
    request.user = user;
    return user;
  };

  app.decorate('authenticate', async (request: FastifyRequest) => {
    await authenticate(request);
  });
  app.decorate('requirePermission', (permission: Permission): onRequestAsyncHookHandler => {
    return async (request) => {
      const user = await authenticate(request);
      if (!user.permissions.includes(permission)) {
        throw new PhaselineError('ERR_AUTH_FORBIDDEN', `${user.username} lacks the permission ${permission}`, {
          permission,
        });
      }
    };
  });
}
