import { AttributeIds, DataType, Variant, type ClientSession, type OPCUACertificateManager, type OPCUAClient } from 'node-opcua';
import type { TagDef } from '../../config/plant.schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { backfillGap, type OpcuaGap } from './opcua-history.ts';
import type { OpcuaPosition } from './opcua-position.ts';
import { routeOpcuaLogs } from './opcua-log.ts';
import { monitorTags } from './opcua-monitor.ts';
import { SampleDelivery } from './opcua-delivery.ts';
import { DEMO_APPS, ensureOwnCertificate, openCertificateStore, pkiDir } from './opcua-pki.ts';
import { openOpcuaSession } from './opcua-session.ts';
import { resolveSecurity, type OpcuaSecurity } from './opcua-security.ts';
import type { Sample } from './opcua-status.ts';
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
  const delivery = new SampleDelivery({ src, log, metrics, onSample: (s) => o.onSample(s), ...(o.resumeFrom ? { resumeFrom: o.resumeFrom } : {}) });
  let session: ClientSession | undefined;
  let connected = false;
  let stopping = false;
  // Since when nothing was collected, and why: the collector itself was stopped (a persisted position), or it lost
  // the connection. Both gaps are counted, reported and backfilled; only a lost connection is a warning.
  let down: { since: number; cause: OpcuaGap['cause'] } | undefined = o.resumeFrom ? { since: o.resumeFrom.at, cause: 'collector_stopped' } : undefined;
  let client: OPCUAClient | undefined;
  const halt = new AbortController();
  const tags = o.tags.filter((t) => t.node);

  /** One connection: the session step, then the monitoring step, then the history step for the gap before it. */
  const connectOnce = async (cm: OPCUACertificateManager, own: { certificateFile: string; privateKeyFile: string }) => {
    const opened = await openOpcuaSession({ endpoint: o.endpoint, security, cm, own, varDir: o.varDir ?? '.', onClient: (c) => (client = c) });
    session = opened.session;
    info.sessions++;
    info.securityPolicy = opened.policy;
    info.securityMode = security.mode;
    const gap = down && { ...down, before: delivery.openGap() };
    if (!gap) delivery.noGap();
    const m = await monitorTags(opened.session, { src, tags, samplingIntervalMs: o.samplingIntervalMs, onValue: (t, dv) => delivery.onValue(t, dv), log, metrics });
    m.subscription.on('terminated', () => opened.end('subscription terminated'));
    connected = true;
    info.monitored = m.good;
    info.refused = m.refused;
    info.lastError = undefined;
    metrics.set('phaseline_edge_refused_items', { src }, m.refused, 'Monitored items the OPC UA server refused');
    log.info({ endpoint: o.endpoint, policy: security.policy, mode: security.mode, items: tags.length, refused: m.refused, perCall: m.perCall }, 'OPC UA session open, items monitored');
    if (gap) await closeGap(opened.session, gap);
    down = undefined;
    return { lost: opened.lost };
  };

  /** The history step: reports the gap and backfills it from the server's history (IEC 62541-11), each value once. */
  const closeGap = async (s: ClientSession, open: { since: number; cause: OpcuaGap['cause']; before: Map<string, number> }) => {
    const { since: from, cause } = open;
    const to = Date.now();
    delivery.boundGap(to);
    const backfill = o.backfill === false ? [] : await backfillGap(s, tags, { from, to }, open.before, delivery.lastGood, log);
    const gap: OpcuaGap = { from, to, backfilled: backfill.length, cause };
    info.lastGap = gap;
    metrics.inc('phaseline_edge_opcua_gaps_total', { src }, 1, 'OPC UA collection gaps (connection lost, then restored)');
    metrics.set('phaseline_edge_opcua_last_gap_seconds', { src }, (to - from) / 1000, 'Length of the last OPC UA collection gap');
    metrics.inc('phaseline_edge_opcua_backfilled_total', { src }, backfill.length, 'Samples recovered with HistoryRead');
    // A gap of our own stop (a restart) is expected and logged as information; a lost connection is a warning.
    const fields = { src, cause, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ms: to - from, backfilled: backfill.length };
    if (cause === 'connection_lost') log.warn(fields, 'opcua_gap: connection lost, collection resumed');
    else log.info(fields, 'opcua_gap: collector was stopped, collection resumed');
    gap.backfilled = backfill.filter((sample) => delivery.deliver(sample)).length;
    o.onGap?.(gap);
  };

  const ready = (async () => {
    const stopped = new Promise<string>((r) => halt.signal.addEventListener('abort', () => r('stop'), { once: true }));
    const cm = await openCertificateStore(o.pkiDir ?? pkiDir(o.varDir ?? '.', 'client'));
    try {
      const own = await ensureOwnCertificate(cm, DEMO_APPS.client);
      while (!stopping) {
        try {
          const { lost } = await connectOnce(cm, own);
          const reason = await Promise.race([lost, stopped]);
          if (!stopping) log.warn({ endpoint: o.endpoint, reason }, 'OPC UA connection lost: re-creating session, subscription and items');
        } catch (err) {
          if (stopping) break;
          info.lastError = (err as Error).message;
          log.error({ err: info.lastError, endpoint: o.endpoint }, 'OPC UA connection failed: retrying');
        }
        if (connected) down = { since: Date.now(), cause: 'connection_lost' };
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
    write: async (node, dataType, value) => (session && connected ? writeNode(session, node, dataType, value, log) : 'opcua_unavailable'),
    async stop() {
      stopping = true;
      halt.abort();
      connected = false;
      await close();
      await ready;
    },
  };
}

/** A guarded write to one node (IEC 62541-4 §5.10.4 Write): undefined when good, else the status or error name. */
async function writeNode(session: ClientSession, node: string, dataType: TagDef['dataType'], value: number | boolean | string, log: Logger): Promise<string | undefined> {
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
}
