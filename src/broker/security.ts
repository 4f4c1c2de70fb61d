import { readFile } from 'node:fs/promises';
import type { Env } from '../../config/env.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import type { Logger } from '../log.ts';
import type { ConnectNatsOptions } from './connect.ts';
import { brokerUsers, edgeConnectOptions, ensureNatsCredentials, loadEdgeCredentials, runtimeUser, type NatsUser } from './credentials.ts';
import { resolveNatsServer } from './resolve.ts';
import { embeddedNatsDirs, startNatsServer, type NatsServerHandle, type StartNatsOptions } from './server.ts';
import { ensureTlsMaterial, type TlsMaterial } from './tls.ts';

type Auth = Pick<ConnectNatsOptions, 'user' | 'pass' | 'inboxPrefix' | 'ca'>;

/** The broker the runtime uses, with the credentials of the runtime and of each edge source. */
export interface SecuredBroker {
  url: string;
  server?: NatsServerHandle;
  /** TLS material when PHASELINE_TLS is on (the HTTP server uses the same certificate). */
  tls?: TlsMaterial;
  /** Connection options of the runtime's own user. */
  runtime: Auth;
  /** Connection options of an edge source's user; undefined when the broker has no users (auth off, no file). */
  edge(src: string): Promise<Auth | undefined>;
}

/**
 * Starts the embedded broker with a user per edge source and a runtime user (NIST SP 800-82r3 §6.2.1, IEC 62443-3-3
 * SR 1.1/2.1) and, when PHASELINE_TLS is on, with TLS; or, with NATS_URL, uses the external broker with NATS_USER /
 * NATS_PASSWORD and the edge credentials files that `cli.ts nats-config` generated under `<var>/nats/`.
 */
export async function startSecuredBroker(env: Env, config: PlantConfig, log: Logger): Promise<SecuredBroker> {
  const tls = env.tls ? await ensureTlsMaterial(env.varDir, env.tlsFiles, [env.httpHost]) : undefined;
  // An external broker with TLS needs only the CA (PHASELINE_TLS_CA) to be trusted by the runtime's connections.
  const caPem = tls?.ca ?? (env.natsUrl && env.tlsFiles.caFile ? await readFile(env.tlsFiles.caFile, 'utf8') : undefined);
  const ca = caPem ? { ca: caPem } : {};
  if (env.natsUrl) {
    const runtime = env.natsUser ? { user: env.natsUser, pass: env.natsPassword, ...ca } : { ...ca };
    const edge = async (src: string) => {
      const c = await loadEdgeCredentials(env.varDir, src);
      return c ? { ...edgeConnectOptions(c), ...ca } : undefined;
    };
    return { url: env.natsUrl, tls, runtime, edge };
  }
  const { users, options } = await embeddedSecurity(env, config, tls);
  const bin = await resolveNatsServer({ bin: env.natsServerBin, varDir: env.varDir, log });
  const server = await startNatsServer({ bin, ...embeddedNatsDirs(env.varDir), log, ...options });
  const self = users ? runtimeUser(users) : undefined;
  return {
    url: server.url,
    server,
    tls,
    runtime: self ? { user: self.user, pass: self.password, ...ca } : { ...ca },
    async edge(src) {
      const u = users?.find((x) => x.role === 'edge' && x.source === src);
      if (!u) return undefined;
      return { ...edgeConnectOptions((await loadEdgeCredentials(env.varDir, src))!), ...ca };
    },
  };
}

/**
 * The users (PHASELINE_NATS_AUTH, default on) and TLS (PHASELINE_TLS) of the embedded broker, created on first use:
 * the same for the runtime and for `cli.ts nats-server`, so that either adopts the server the other left when it died
 * (both hold the state directory's instance lock, so only one of them runs at a time).
 */
export async function embeddedSecurity(
  env: Env,
  config: PlantConfig,
  tls?: TlsMaterial,
): Promise<{ users?: NatsUser[]; tls?: TlsMaterial; options: Pick<StartNatsOptions, 'users' | 'tls'> }> {
  tls ??= env.tls ? await ensureTlsMaterial(env.varDir, env.tlsFiles, [env.httpHost]) : undefined;
  const users = env.natsAuth ? await ensureNatsCredentials(env.varDir, config.sources.map((s) => s.id)) : undefined;
  const options = {
    ...(users ? { users: brokerUsers(users, config) } : {}),
    ...(tls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
  };
  return { users, tls, options };
}
