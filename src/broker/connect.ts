import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { PhaselineError } from '../errors.ts';
import { logger, type Logger } from '../log.ts';

/** Options of {@link connectNats}: `highRate` drops the async stack traces that make each JetStream request cost an Error. */
export interface ConnectNatsOptions {
  name: string;
  highRate?: boolean;
  user?: string;
  pass?: string;
  /** Replies come to `<inboxPrefix>.<nuid>`: an edge user may subscribe only to its own prefix (credentials.ts). */
  inboxPrefix?: string;
  /** PEM of the CA to trust: the connection then requires TLS. */
  ca?: string;
  log?: Logger;
}

/** The connection options Phaseline uses everywhere: reconnect forever, every 500 ms, never give up on the broker. */
export function natsConnectionOptions(url: string | string[], opts: ConnectNatsOptions): ConnectionOptions {
  return {
    servers: url,
    name: opts.name,
    ...(opts.user !== undefined ? { user: opts.user, pass: opts.pass } : {}),
    ...(opts.inboxPrefix !== undefined ? { inboxPrefix: opts.inboxPrefix } : {}),
    ...(opts.ca !== undefined ? { tls: { ca: opts.ca } } : {}),
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 100,
    // Detect a dead broker in ~1 min instead of the default 2 min × 2 pings.
    pingInterval: 20_000,
    maxPingOut: 3,
    noAsyncTraces: opts.highRate === true,
  };
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    switch (s.type) {
      case 'disconnect':
        log.warn({ server: s.server }, 'NATS disconnected; reconnecting');
        break;
      case 'reconnect':
        log.info({ server: s.server }, 'NATS reconnected');
        break;
      case 'error':
        log.error({ err: s.error }, 'NATS connection error');
        break;
      default:
        break;
    }
  }
}

/** Connects to NATS with {@link natsConnectionOptions} and logs disconnects and reconnects; rejects with ERR_NATS_UNAVAILABLE. */
export async function connectNats(url: string | string[], opts: ConnectNatsOptions): Promise<NatsConnection> {
  const log = opts.log ?? logger('nats');
  let nc: NatsConnection;
  try {
    nc = await connect(natsConnectionOptions(url, opts));
  } catch (err) {
    throw new PhaselineError(
      'ERR_NATS_UNAVAILABLE',
      `cannot connect to NATS at ${String(url)} as ${opts.name}: ${(err as Error).message}`,
      { url },
      { cause: err },
    );
  }
  void watchStatus(nc, log.child({ conn: opts.name })).catch(() => undefined);
  return nc;
}
