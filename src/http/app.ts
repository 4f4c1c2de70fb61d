import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import type { KV } from '@nats-io/kv';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { logger, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { registerGuard } from './auth/guard.ts';
import type { SessionStore } from './auth/sessions.ts';
import type { UserStore } from './auth/users.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';
import { registerIdempotency } from './idempotency.ts';
import { registerAuthRoutes, type AuthAuditEntry, type HealthReport } from './routes/auth.routes.ts';

/** The largest request body accepted (larger: 413 `payload_too_large`). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
/** Name of the bearer security scheme in the OpenAPI document. */
export const BEARER_SCHEME = 'bearerAuth';

/** The fastify instance with the zod type provider: route schemas are zod schemas, handlers are typed from them. */
export type PhaselineApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

/** The ports {@link buildApp} needs; all passed in (house style), none imported. */
export interface BuildAppOptions {
  config: PlantConfig;
  users: UserStore;
  sessions: SessionStore;
  /** The `idempotency` KV bucket (24 h TTL). */
  idempotencyKv: KV;
  /** The logger fastify uses for requests (defaults to the `http` module logger). */
  log?: Logger;
  metrics: Metrics;
  /** Receives every login, failed login and logout (wire it to the audit writer). */
  audit: (entry: AuthAuditEntry) => void | Promise<void>;
  /** Reports the broker connection and anything else for `GET /health`. */
  health: () => HealthReport | Promise<HealthReport>;
  /** PEM key and certificate: the API then answers HTTPS only (PHASELINE_TLS; IEC 62443-3-3 SR 4.1). */
  https?: { key: string; cert: string };
}

/**
 * Builds the HTTP API (CONTRACT.md §2): JSON only, body limit 1 MiB, zod-validated routes published as OpenAPI at
 * `GET /api/v1/openapi.json`, one error shape, bearer sessions with role permissions on every protected route
 * (21 CFR 11.10(d) limiting system access to authorized individuals) and Idempotency-Key handling for writes.
 * Register further routes on the returned instance, then call `ready()` or `listen()`.
 */
export async function buildApp(opts: BuildAppOptions): Promise<PhaselineApp> {
  const app = Fastify({
    loggerInstance: opts.log ?? logger('http'),
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(opts.https ? { https: opts.https } : {}),
  } as Parameters<typeof Fastify>[0]).withTypeProvider<ZodTypeProvider>() as unknown as PhaselineApp;

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // All bodies are JSON (CONTRACT.md §2): anything else is 415 rather than a string that fails validation.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Phaseline',
        version: opts.config.version,
        description: 'MES–SCADA integration runtime: ISA-88 phases, event frames and the Part 11 execution record.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the host that serves this document (a plant runs it on its own address).
      servers: [{ url: '/', description: 'this Phaseline instance' }],
      components: { securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer' } } },
      security: [{ [BEARER_SCHEME]: [] }],
    },
    transform: jsonSchemaTransform,
  });

  registerGuard(app, { sessions: opts.sessions, security: opts.config.security });
  registerIdempotency(app, { kv: opts.idempotencyKv, metrics: opts.metrics });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerAuthRoutes(app, {
    users: opts.users,
    sessions: opts.sessions,
    metrics: opts.metrics,
    audit: opts.audit,
    health: opts.health,
  });
  return app;
}
