import {
  AttributeIds,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
} from 'node-opcua';
import type { TagDef } from '../../config/plant.schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

/** OperationLimits.MaxMonitoredItemsPerCall (IEC 62541-5 §6.3.11). */
const MAX_MONITORED_ITEMS_PER_CALL = 'ns=0;i=11714';
const FALLBACK_ITEMS_PER_CALL = 1000;

/** What one monitoring pass created. */
export interface MonitorResult {
  subscription: ClientSubscription;
  good: number;
  refused: number;
  perCall: number;
}

/** Options of {@link monitorTags}. */
export interface MonitorOptions {
  src: string;
  tags: readonly TagDef[];
  /** Default sampling interval of a tag without its own (ms). */
  samplingIntervalMs: number;
  onValue(tag: TagDef, dv: DataValue): void;
  log: Logger;
  metrics: Metrics;
}

/** The monitoring parameters of a tag: its own sampling interval and deadband from the tag dictionary, or defaults. */
export function monitoringOf(tag: TagDef, defaultSamplingMs: number): { samplingInterval: number; filter?: DataChangeFilter } {
  const samplingInterval = tag.samplingIntervalMs ?? Math.min(defaultSamplingMs, 250);
  if (!tag.deadband || tag.dataType !== 'number') return { samplingInterval };
  // IEC 62541-4 §7.22.2: a deadband applies to numeric values only; Percent needs the node's EURange.
  const filter = new DataChangeFilter({
    trigger: DataChangeTrigger.StatusValue,
    deadbandType: tag.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
    deadbandValue: tag.deadband.value,
  });
  return { samplingInterval, filter };
}

/**
 * Creates one subscription and a monitored item per tag, grouped by identical parameters and chunked to the server's
 * MaxMonitoredItemsPerCall, checking each item's status (IEC 62541-4 §5.13.1, §5.12.2): a refused item is logged and
 * counted, the others keep working.
 */
export async function monitorTags(session: ClientSession, o: MonitorOptions): Promise<MonitorResult> {
  const perCall = await readItemsPerCall(session, o.log);
  const fastest = Math.min(o.samplingIntervalMs, 500, ...o.tags.map((t) => t.samplingIntervalMs ?? Infinity));
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: Math.max(fastest, 50),
    requestedLifetimeCount: 120,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  subscription.on('internal_error', (err) => o.log.error({ err }, 'OPC UA subscription error'));
  const groups = new Map<string, TagDef[]>();
  for (const t of o.tags) {
    const key = JSON.stringify([t.samplingIntervalMs ?? null, t.dataType === 'number' ? (t.deadband ?? null) : null]);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  let refused = 0;
  for (const tags of groups.values()) {
    for (let i = 0; i < tags.length; i += perCall) refused += await monitorChunk(subscription, tags.slice(i, i + perCall), o);
  }
  return { subscription, good: o.tags.length - refused, refused, perCall };
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

/** Creates one chunk of items with the same parameters; returns how many the server refused. */
async function monitorChunk(sub: ClientSubscription, tags: TagDef[], o: MonitorOptions): Promise<number> {
  const bad = (tag: string, reason: string) => {
    o.log.error({ tag, reason }, 'monitored item refused');
    o.metrics.inc('phaseline_edge_bad_items_total', { src: o.src, reason }, 1, 'Monitored items refused by the OPC UA server');
  };
  try {
    const group = await sub.monitorItems(
      tags.map((t) => ({ nodeId: t.node!, attributeId: AttributeIds.Value })),
      { ...monitoringOf(tags[0]!, o.samplingIntervalMs), queueSize: 100, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on('changed', (_item, dv, index) => {
      const tag = tags[index];
      if (tag) o.onValue(tag, dv);
    });
    let refused = 0;
    group.monitoredItems.forEach((item, i) => {
      if (item.statusCode.isGood()) return;
      refused++;
      bad(tags[i]!.tag, item.statusCode.name);
    });
    return refused;
  } catch (err) {
    o.log.error({ err, items: tags.length }, 'CreateMonitoredItems failed');
    tags.forEach((t) => bad(t.tag, 'create_failed'));
    return tags.length;
  }
}
