import { AttributeIds, DataType, OPCUAClient, Variant, type ClientSession, type OPCUACertificateManager } from 'node-opcua';
import type { TagDef } from '../../config/plant.schema.ts';
import { OpcuaSecurityError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { backfillGap, type OpcuaGap } from './opcua-history.ts';
import type { OpcuaPosition } from './opcua-position.ts';
import { routeOpcuaLogs } from './opcua-log.ts';
import { monitorTags } from './opcua-monitor.ts';
import { DEMO_APPS, ensureOwnCertificate, openCertificateStore, pkiDir } from './opcua-pki.ts';
import { loadIdentity, opcuaSecurity, pickEndpoint, resolveSecurity, type OpcuaSecurity } from './opcua-security.ts';
import { toSample, type Sample } from './opcua-status.ts';
import { pause } from './pause.ts';

export type { Sample } from './opcua-status.ts';
export type { OpcuaGap } from './opcua-history.ts';

/** What the collector reports about its OPC UA link. */
export interface OpcuaSourceInfo {
  securityPolicy?: string;
  securityMode?: string;
  /** Sessions opened so far (1 after the first connection; each reconnection adds one). */
  sessions: number;
  monitored: number;
  refused: number;
  lastGap?: OpcuaGap;
  lastError?: string;
}

/** The collector's view of its OPC UA server. */
export interface OpcuaSource {
  status(): 'ok' | 'degraded' | 'down';
  info(): OpcuaSourceInfo;
  /** Writes a value to a node; resolves to undefined on success or a reason code. */
  write(node: string, dataType: TagDef['dataType'], value: number | boolean | string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** Options of {@link connectOpcuaSource}. */
export interface OpcuaSourceOptions {
  src: string;
  endpoint: string;
  tags: readonly TagDef[];
  samplingIntervalMs: number;
  onSample(s: Sample): void;
  log: Logger;
  metrics: Metrics;
  /** Security policy, mode and identity (default Basic256Sha256 + SignAndEncrypt, anonymous). */
  security?: OpcuaSecurity;
  /** State dir: identity secret files are resolved under it; the client store defaults to `<varDir>/pki/client`. */
  varDir?: string;
  /** The client's certificate store folder. */
  pkiDir?: string;
  /** Called once per reconnection with the window in which nothing was collected live. */
  onGap?(gap: OpcuaGap): void;
  /** Backfill gaps from the server's history (default true). */
  backfill?: boolean;
  /** Wait between connection attempts (default 1000 ms). */
  retryDelayMs?: number;
  /** Where an earlier run of the collector got to: the time since then is a gap, backfilled on the first session. */
  resumeFrom?: OpcuaPosition;
}

/** GetEndpoints on a discovery (None) channel, to say why no endpoint fits (IEC 62541-4 §5.4.4). */
async function describeOffer(endpoint: string, security: OpcuaSecurity): Promise<string> {
  const c = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  try {
    await c.connect(endpoint);
    const chosen = pickEndpoint(await c.getEndpoints(), security);
    return 'refused' in chosen ? chosen.refused : `no endpoint with ${security.policy}/${security.mode}`;
  } catch {
    return `no endpoint with ${security.policy}/${security.mode}`;
  } finally {
    await c.disconnect().catch(() => undefined);
  }
}

const OPCUA_TYPE = { number: DataType.Double, boolean: DataType.Boolean, string: DataType.String } as const;

/**
 * Collects an OPC UA server: discovers its endpoints and uses only the configured security (IEC 62541-4 §5.4.4,
 * IEC 62541-2 §6), authenticates with the configured identity, monitors every tag, and after any loss of the
 * connection opens a new session, re-creates the subscription and every monitored item (not trusting the client
 * library to restore them), reports the gap and backfills it from the server's history (IEC 62541-11).
 */
export function connectOpcuaSource(o: OpcuaSourceOptions): OpcuaSource {
  routeOpcuaLogs();
  const { log, metrics, src } = o;
  const security = o.security ?? resolveSecurity({});
  const info: OpcuaSourceInfo = { sessions: 0, monitored: 0, refused: 0 };
  const lastGood = new Map<string, Sample['v']>();
  const delivered = new Map<string, number>(Object.entries(o.resumeFrom?.last ?? {})); // per tag: latest source time delivered
  // While a gap is being closed: per tag, the source times delivered up to the end of the gap, so that a value is
  // delivered once whether the restored item or the history reports it first.
  let window: { to: number; seen: Map<string, Set<number>>; before: Map<string, number> } | undefined;
  let session: ClientSession | undefined;
  let connected = false;
  let stopping = false;
  let downSince: number | undefined = o.resumeFrom?.at;
  let client: OPCUAClient | undefined;
  const halt = new AbortController();
  const tags = o.tags.filter((t) => t.node);

  const previous = new Map<string, Sample>();
  const deliver = (s: Sample) => {
    if (window && s.ts <= window.to) {
      const seen = window.seen.get(s.tag) ?? new Set<number>();
      window.seen.set(s.tag, seen);
      // At or before the position reached before the gap: delivered then (a restored item re-sends its last value).
      if (seen.has(s.ts) || s.ts <= (window.before.get(s.tag) ?? -Infinity)) {
        metrics.inc('phaseline_edge_opcua_duplicates_total', { src }, 1, 'Samples both restored live and read from history, delivered once');
        return;
      }
      seen.add(s.ts);
    }
    delivered.set(s.tag, Math.max(delivered.get(s.tag) ?? 0, s.ts));
    previous.set(s.tag, s);
    o.onSample(s);
  };
  const onValue = (tag: TagDef, dv: Parameters<typeof toSample>[1]) => {
    const { sample, unsupported } = toSample(tag, dv, lastGood);
    const p = previous.get(tag.tag);
    // A re-created item first reports the current value: already delivered if its source timestamp has not moved.
    if (p && p.ts === sample.ts && p.v === sample.v && p.q === sample.q) return;
    if (unsupported) {
      metrics.inc('phaseline_edge_unsupported_values_total', { src }, 1, 'Values of an unsupported OPC UA type');
      log.warn({ tag: tag.tag, dataType: dv.value?.dataType }, 'unsupported value type: sample kept as bad');
    }
    deliver(sample);
  };

  const session1 = async (cm: OPCUACertificateManager, own: { certificateFile: string; privateKeyFile: string }) => {
    await cm.reloadCertificates(); // an operator may have trusted the server's certificate meanwhile
    const identity = await loadIdentity(security, o.varDir ?? '.');
    const c = OPCUAClient.create({
      applicationName: DEMO_APPS.client.applicationName,
      applicationUri: DEMO_APPS.client.applicationUri,
      clientCertificateManager: cm,
      certificateFile: own.certificateFile,
      privateKeyFile: own.privateKeyFile,
      ...opcuaSecurity(security),
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      // This loop owns reconnection: a lost channel ends the session and everything is re-created.
      connectionStrategy: { initialDelay: 100, maxDelay: 500, maxRetry: 0 },
    });
    client = c;
    let end: (reason: string) => void = () => undefined;
    const lost = new Promise<string>((resolve) => {
      end = resolve;
      c.on('connection_lost', () => resolve('connection lost'));
      c.on('close', () => resolve('closed'));
      c.on('connection_failed', () => resolve('connection failed'));
    });
    await c.connect(o.endpoint).catch(async (err: Error) => {
      if (!/Cannot find an Endpoint/.test(err.message)) throw err;
      // The server offers no endpoint with our policy and mode: name what it offers (discovery over None only).
      throw new OpcuaSecurityError(`OPC UA server refused: ${await describeOffer(o.endpoint, security)}`, { endpoint: o.endpoint }, { cause: err });
    });
    const chosen = pickEndpoint(await c.getEndpoints(), security);
    if ('refused' in chosen) throw new OpcuaSecurityError(`OPC UA server refused: ${chosen.refused}`, { endpoint: o.endpoint });
    const s = await c.createSession(identity);
    // A session or subscription the server ended while the channel stays up also means: re-create everything.
    s.on('session_closed', () => end('session closed'));
    s.on('keepalive_failure', () => end('session keep-alive failed'));
    session = s;
    info.sessions++;
    info.securityPolicy = c.securityPolicy?.split('#')[1] ?? String(c.securityPolicy);
    info.securityMode = security.mode;
    const gapFrom = downSince;
    // What was delivered before the gap, fixed before the new items report anything (the backfill starts there).
    const before = new Map(delivered);
    window = gapFrom !== undefined ? { to: Infinity, seen: new Map(), before } : undefined;
    const m = await monitorTags(s, { src, tags, samplingIntervalMs: o.samplingIntervalMs, onValue, log, metrics });
    m.subscription.on('terminated', () => end('subscription terminated'));
    connected = true;
    info.monitored = m.good;
    info.refused = m.refused;
    info.lastError = undefined;
    metrics.set('phaseline_edge_refused_items', { src }, m.refused, 'Monitored items the OPC UA server refused');
    log.info({ endpoint: o.endpoint, policy: security.policy, mode: security.mode, items: tags.length, refused: m.refused, perCall: m.perCall }, 'OPC UA session open, items monitored');
    if (gapFrom !== undefined) await reportGap(s, gapFrom, before);
    downSince = undefined;
    return { lost };
  };

  const reportGap = async (s: ClientSession, from: number, last: Map<string, number>) => {
    const to = Date.now();
    const w = window!;
    w.to = to;
    for (const seen of w.seen.values()) for (const ts of seen) if (ts > to) seen.delete(ts);
    const backfill = o.backfill === false ? [] : await backfillGap(s, tags, { from, to }, last, lastGood, log);
    const gap: OpcuaGap = { from, to, backfilled: backfill.length };
    info.lastGap = gap;
    metrics.inc('phaseline_edge_opcua_gaps_total', { src }, 1, 'OPC UA collection gaps (connection lost, then restored)');
    metrics.set('phaseline_edge_opcua_last_gap_seconds', { src }, (to - from) / 1000, 'Length of the last OPC UA collection gap');
    metrics.inc('phaseline_edge_opcua_backfilled_total', { src }, backfill.length, 'Samples recovered with HistoryRead');
    log.warn({ src, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ms: to - from, backfilled: backfill.length }, 'opcua_gap: collection resumed');
    let fed = 0;
    for (const sample of backfill) {
      const before = previous.get(sample.tag);
      deliver(sample);
      if (previous.get(sample.tag) !== before) fed++;
    }
    gap.backfilled = fed;
    o.onGap?.(gap);
  };

  const ready = (async () => {
    const stopped = new Promise<string>((r) => halt.signal.addEventListener('abort', () => r('stop'), { once: true }));
    const cm = await openCertificateStore(o.pkiDir ?? pkiDir(o.varDir ?? '.', 'client'));
    try {
      const own = await ensureOwnCertificate(cm, DEMO_APPS.client);
      while (!stopping) {
        try {
          const { lost } = await session1(cm, own);
          const reason = await Promise.race([lost, stopped]);
          if (!stopping) log.warn({ endpoint: o.endpoint, reason }, 'OPC UA connection lost: re-creating session, subscription and items');
        } catch (err) {
          if (stopping) break;
          info.lastError = (err as Error).message;
          log.error({ err: info.lastError, endpoint: o.endpoint }, 'OPC UA connection failed: retrying');
        }
        if (connected) downSince = Date.now();
        connected = false;
        await close();
        if (!stopping) await pause(o.retryDelayMs ?? 1000, halt.signal);
      }
    } finally {
      await cm.dispose().catch(() => undefined);
    }
  })().catch((err) => log.error({ err }, 'OPC UA source stopped on an error'));

  async function close(): Promise<void> {
    const s = session;
    const c = client;
    session = undefined;
    client = undefined;
    if (s) await s.close(true).catch((err) => log.debug({ err: String(err) }, 'session close'));
    if (c) await c.disconnect().catch((err) => log.debug({ err: String(err) }, 'disconnect'));
  }

  return {
    status: () => (!connected || !session ? 'down' : info.refused > 0 ? 'degraded' : 'ok'),
    info: () => ({ ...info }),
    async write(node, dataType, value) {
      if (!session || !connected) return 'opcua_unavailable';
      try {
        const sc = await session.write({
          nodeId: node,
          attributeId: AttributeIds.Value,
          value: { value: new Variant({ dataType: OPCUA_TYPE[dataType], value }) },
        });
        return sc.isGood() ? undefined : sc.name;
      } catch (err) {
        log.warn({ err, node }, 'OPC UA write failed');
        return 'opcua_write_error';
      }
    },
    async stop() {
      stopping = true;
      halt.abort();
      connected = false;
      await close();
      await ready;
    },
  };
}
