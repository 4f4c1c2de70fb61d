import {
  AttributeIds,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  Variant,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import type { TagDef } from '../../config/plant.schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { pause } from './pause.ts';
import { routeOpcuaLogs } from './opcua-log.ts';

/** One collected value with its source timestamp (CONTRACT.md §5.1). */
export interface Sample {
  tag: string;
  v: number | boolean | string;
  q: 'good' | 'uncertain' | 'bad';
  ts: number;
}

/** The collector's view of its OPC UA server. */
export interface OpcuaSource {
  status(): 'ok' | 'degraded' | 'down';
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
}

/** OperationLimits.MaxMonitoredItemsPerCall (OPC 10000-5 §6.3.11). */
const MAX_MONITORED_ITEMS_PER_CALL = 'ns=0;i=11714';
const FALLBACK_ITEMS_PER_CALL = 1000;
const OPCUA_TYPE = { number: DataType.Double, boolean: DataType.Boolean, string: DataType.String } as const;

/**
 * Connects to an OPC UA server (retrying forever in the background), and monitors every tag in one subscription,
 * created in chunks no larger than the server's MaxMonitoredItemsPerCall, with each item's status checked.
 */
export function connectOpcuaSource(o: OpcuaSourceOptions): OpcuaSource {
  routeOpcuaLogs();
  const { log, metrics, src } = o;
  const client = OPCUAClient.create({
    // Default application name: it matches node-opcua's default client certificate (own PKI comes with encryption).
    endpointMustExist: false,
    // Encryption comes with a later issue; None keeps this iteration certificate-free on the wire.
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    keepSessionAlive: true,
    requestedSessionTimeout: 60_000,
    connectionStrategy: { initialDelay: 250, maxDelay: 5000, maxRetry: -1 },
  });
  let session: ClientSession | undefined;
  let connected = false;
  let badItems = 0;
  let stopping = false;
  const lastGood = new Map<string, Sample['v']>();
  client.on('connection_lost', () => {
    connected = false;
    log.warn({ endpoint: o.endpoint }, 'OPC UA connection lost');
  });
  client.on('connection_reestablished', () => {
    connected = true;
    log.info({ endpoint: o.endpoint }, 'OPC UA connection re-established');
  });
  client.on('backoff', (count, delay) => log.debug({ count, delay }, 'OPC UA connect retry'));

  const monitor = async (s: ClientSession) => {
    const limit = await readItemsPerCall(s, log);
    const subscription = await s.createSubscription2({
      requestedPublishingInterval: Math.min(o.samplingIntervalMs, 500),
      requestedLifetimeCount: 120,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    subscription.on('internal_error', (err) => log.error({ err }, 'OPC UA subscription error'));
    subscription.on('terminated', () => stopping || log.warn('OPC UA subscription terminated'));
    const tags = o.tags.filter((t) => t.node);
    for (let i = 0; i < tags.length; i += limit)
      badItems += await monitorChunk(subscription, tags.slice(i, i + limit), o, lastGood);
    metrics.set('phaseline_edge_bad_items', { src }, badItems, 'Monitored items the OPC UA server refused');
    log.info({ items: tags.length, bad: badItems, perCall: limit }, 'OPC UA monitored items created');
  };

  const halt = new AbortController();
  const ready = (async () => {
    while (!stopping) {
      try {
        await client.connect(o.endpoint);
        session = await client.createSession();
        connected = true;
        log.info({ endpoint: o.endpoint }, 'OPC UA session open');
        await monitor(session);
        return;
      } catch (err) {
        if (stopping) return;
        log.error({ err, endpoint: o.endpoint }, 'OPC UA source failed to start: retrying');
        connected = false;
        session = undefined;
        await client.disconnect().catch(() => undefined);
        await pause(2000, halt.signal);
      }
    }
  })();

  return {
    status: () => (!connected || !session ? 'down' : badItems > 0 ? 'degraded' : 'ok'),
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
      try {
        if (session) await session.close(true);
      } catch (err) {
        log.debug({ err }, 'session close');
      }
      await client.disconnect();
      await ready;
    },
  };
}

async function readItemsPerCall(s: ClientSession, log: Logger): Promise<number> {
  try {
    const dv = await s.read({ nodeId: MAX_MONITORED_ITEMS_PER_CALL, attributeId: AttributeIds.Value });
    const n = Number(dv.value.value);
    if (dv.statusCode.isGood() && Number.isInteger(n) && n > 0) return n;
  } catch (err) {
    log.debug({ err }, 'MaxMonitoredItemsPerCall not readable');
  }
  return FALLBACK_ITEMS_PER_CALL;
}

/** Creates one chunk of monitored items; returns how many the server refused (each logged and counted). */
async function monitorChunk(
  sub: ClientSubscription,
  tags: TagDef[],
  o: OpcuaSourceOptions,
  lastGood: Map<string, Sample['v']>,
): Promise<number> {
  const { log, metrics, src } = o;
  const bad = (tag: string, reason: string) => {
    log.error({ tag, reason }, 'monitored item refused');
    metrics.inc('phaseline_edge_bad_items_total', { src, reason }, 1, 'Monitored items refused by the OPC UA server');
  };
  try {
    const group = await sub.monitorItems(
      tags.map((t) => ({ nodeId: t.node!, attributeId: AttributeIds.Value })),
      { samplingInterval: Math.min(o.samplingIntervalMs, 250), queueSize: 100, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on('changed', (_item, dv, index) => {
      const tag = tags[index];
      if (tag) emit(tag, dv, o, lastGood);
    });
    let refused = 0;
    group.monitoredItems.forEach((item, i) => {
      if (item.statusCode.isGood()) return;
      refused++;
      bad(tags[i]!.tag, item.statusCode.name);
    });
    return refused;
  } catch (err) {
    log.error({ err, items: tags.length }, 'CreateMonitoredItems failed');
    tags.forEach((t) => bad(t.tag, 'create_failed'));
    return tags.length;
  }
}

function emit(tag: TagDef, dv: DataValue, o: OpcuaSourceOptions, lastGood: Map<string, Sample['v']>): void {
  const sev = dv.statusCode.value >>> 30;
  let q: Sample['q'] = sev === 0 ? 'good' : sev === 1 ? 'uncertain' : 'bad';
  const ts = (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime() ?? Date.now();
  const raw: unknown = dv.value?.value;
  let v: Sample['v'] | undefined =
    typeof raw === 'number' || typeof raw === 'boolean' || typeof raw === 'string'
      ? raw
      : raw instanceof Date
        ? raw.getTime()
        : typeof raw === 'bigint'
          ? Number(raw)
          : undefined;
  if (v === undefined) {
    if (q !== 'bad') {
      o.metrics.inc('phaseline_edge_unsupported_values_total', { src: o.src }, 1, 'Values of an unsupported OPC UA type');
      o.log.warn({ tag: tag.tag, dataType: dv.value?.dataType }, 'unsupported value type: sample kept as bad');
    }
    // A bad value often carries no value at all: repeat the last good one (or the type default), flagged bad.
    q = 'bad';
    v = lastGood.get(tag.tag) ?? (tag.dataType === 'number' ? 0 : tag.dataType === 'boolean' ? false : '');
  } else if (q === 'good') lastGood.set(tag.tag, v);
  o.onSample({ tag: tag.tag, v, q, ts });
}
