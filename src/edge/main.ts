/**
 * The standalone edge process: one OPC UA collector with its sequence store and store-and-forward disk buffer,
 * publishing one source to a given NATS (`node --import tsx src/edge/main.ts --endpoint opc.tcp://… [options]`, or
 * `phaseline edge …`). It collects into the buffer at once, whether NATS is reachable or not, and attaches the NATS
 * side when the connection comes. Prints a ready line on stdout once collection runs (`nats=pending` if NATS has not
 * been reached yet, then `phaseline-edge attached …` when it has); SIGTERM or SIGINT stops it cleanly (exit code 0).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import { readEnv } from '../../config/env.ts';
import { loadConfig } from '../../config/load.ts';
import { connectNats, type ConnectNatsOptions } from '../broker/connect.ts';
import { edgeConnectOptions, loadEdgeCredentials, type EdgeCredentials } from '../broker/credentials.ts';
import { ConfigError } from '../errors.ts';
import { logger, setLogLevel } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { openOpcuaCollector, type OpcuaCollector } from './opcua-collector.ts';
import { routeOpcuaLogs } from './opcua-log.ts';
import { pause } from './pause.ts';

export const EDGE_USAGE = `usage: phaseline edge --endpoint opc.tcp://host:port/path [--source sim] [--nats nats://…]
                     [--creds FILE] [--ca FILE] [--var DIR] [--config DIR] [--ground-truth FILE]
  --nats defaults to NATS_URL, --var to PHASELINE_VAR, --config to PHASELINE_CONFIG;
  --creds is the source's NATS credentials file (default: <var>/nats/edge-<source>.json when present, as the runtime
  writes it); --ca the PEM of the broker's CA when it requires TLS (default PHASELINE_TLS_CA);
  --ground-truth appends one JSON line per telemetry message once it is durable in the buffer (tests)
`;

const log = logger('edge');

/** Runs the edge until SIGTERM/SIGINT; resolves with the exit code. */
export async function runEdge(argv: string[]): Promise<number> {
  const env = readEnv();
  setLogLevel(env.logLevel);
  routeOpcuaLogs();
  const { values } = parseArgs({
    args: argv,
    options: {
      endpoint: { type: 'string' },
      source: { type: 'string', default: 'sim' },
      nats: { type: 'string' },
      var: { type: 'string' },
      config: { type: 'string' },
      'ground-truth': { type: 'string' },
      creds: { type: 'string' },
      ca: { type: 'string' },
    },
  });
  const natsUrl = values.nats ?? env.natsUrl;
  if (!values.endpoint) throw new ConfigError('arguments', 'endpoint', `--endpoint is required\n${EDGE_USAGE}`);
  if (!natsUrl) throw new ConfigError('arguments', 'nats', `--nats or NATS_URL is required\n${EDGE_USAGE}`);
  const config = loadConfig(values.config ? resolve(values.config) : env.configDir);
  const varDir = values.var ? resolve(values.var) : env.varDir;
  const truth = values['ground-truth'];
  const signal = new AbortController();
  let ended: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => ((ended = s), signal.abort());
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  // The source's own NATS user (zones and conduits: it may publish only its own subjects), and the broker's CA.
  const creds = values.creds ? (JSON.parse(readFileSync(resolve(values.creds), 'utf8')) as EdgeCredentials) : await loadEdgeCredentials(varDir, values.source);
  const caFile = values.ca ?? env.tlsFiles.caFile;
  const auth = { ...(creds ? edgeConnectOptions(creds) : {}), ...(caFile ? { ca: readFileSync(resolve(caFile), 'utf8') } : {}) };
  // Collection does not wait for NATS: the local side writes ahead to the disk buffer from the start.
  const collector = await openOpcuaCollector({
    config, sourceId: values.source, endpoint: values.endpoint, varDir, metrics: new Metrics(), log,
    onDurable: truth ? (m) => appendFileSync(truth, JSON.stringify({ epoch: m.epoch, seq: m.seq, samples: m.samples }) + '\n') : undefined,
  });
  const src = values.source;
  let nc: NatsConnection | undefined;
  const attaching = (async () => {
    nc = await connectUntil(natsUrl, auth, signal.signal);
    if (nc) await attachUntil(collector, nc, signal.signal);
    if (collector.attached) process.stdout.write(`phaseline-edge attached src=${src} nats=${natsUrl}\n`);
  })();
  process.stdout.write(`phaseline-edge ready src=${src} nats=pending endpoint=${values.endpoint}\n`);
  await new Promise<void>((r) => (signal.signal.aborted ? r() : signal.signal.addEventListener('abort', () => r())));
  log.info({ signal: ended }, 'edge stopping');
  await attaching.catch(() => undefined);
  await collector.stop();
  await nc?.drain().catch(() => undefined);
  return 0;
}

/** Attaches the collector's NATS side, retrying every second if NATS is lost again mid-way. */
async function attachUntil(collector: OpcuaCollector, nc: NatsConnection, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; !signal.aborted && !collector.attached; attempt++) {
    try {
      await collector.attach(nc);
    } catch (err) {
      if (attempt === 1) log.warn({ err: (err as Error).message }, 'attaching to NATS failed: retrying');
      await pause(1000, signal);
    }
  }
}

/**
 * Connects, retrying every second while NATS is unreachable or refuses (the collector buffers meanwhile). Not nats.js
 * `waitOnFirstConnect`: its `connect()` resolves only after the first connection and cannot be abandoned before,
 * whereas SIGTERM must end this wait; once connected, the product's options reconnect forever.
 */
async function connectUntil(url: string, auth: Partial<ConnectNatsOptions>, signal: AbortSignal): Promise<NatsConnection | undefined> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await connectNats(url, { ...auth, name: 'phaseline-edge', highRate: true, log });
    } catch (err) {
      if (attempt === 1) log.warn({ err: (err as Error).message }, 'NATS unreachable at start: retrying');
      await pause(1000, signal);
    }
  }
  return undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runEdge(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`phaseline-edge: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
