import { nuid } from '@nats-io/transport-node';
import type { Env } from '../../config/env.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import type { AuditRequest } from '../../actors/envelope.ts';
import { encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import { logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { loadAuditPublicKeys, loadOrCreateAuditKey } from '../records/audit-key.ts';
import { startAuditWriter } from '../records/audit-writer.ts';
import type { Bus } from './bus.step.ts';
import type { StopStack } from './stops.ts';

/** How the shell asks for an audit entry: the request and its deterministic request id (chained once). */
export type AuditPort = (request: Omit<AuditRequest, 'configVersion'>, requestId?: string) => Promise<void>;

/** The records: the single audit writer and the port every other part appends audit requests through. */
export interface Records {
  audit: AuditPort;
}

/**
 * Starts the audit writer (DESIGN.md principle 11) and records, once, any stream that received its first identity on
 * this start (EU GMP Annex 11 §4.8: a data migration is recorded).
 */
export async function startRecords(env: Env, config: PlantConfig, bus: Bus, metrics: Metrics, stops: StopStack): Promise<Records> {
  const { nc, js, jsm, buckets } = bus;
  const writer = await startAuditWriter({
    nc, js, jsm, kv: buckets.actors, idsKv: buckets.audit, key: await loadOrCreateAuditKey(env.varDir), metrics, log: logger('audit'),
    checkpointEvery: config.runtime.audit.checkpointEvery, checkpointIntervalMs: config.runtime.audit.checkpointIntervalMs,
    publicKeys: await loadAuditPublicKeys(env.varDir),
  });
  stops.push('audit writer', async () => { await writer.flush(); await writer.stop(); });
  // A request without an id of its own gets one minted once here: a retry of this publish carries the same id.
  const audit: AuditPort = async (request, requestId = `http:${nuid.next()}`) => {
    await js.publish(subjects.auditInbox, encode({ ...request, configVersion: config.version }), { msgID: requestId });
  };
  const upgraded = Object.entries(bus.streams).filter(([, s]) => s.change === 'upgraded').map(([name, s]) => [name, s.incarnation] as const);
  if (upgraded.length) {
    await audit({
      at: Date.now(), who: 'system', action: 'streams.identity.assigned', target: 'streams',
      reason: 'streams made before stream incarnations existed received their identity; their messages and sequences are unchanged',
      after: { streams: Object.fromEntries(upgraded) },
    }, `migration:streams:${upgraded.map(([n, i]) => `${n}=${i}`).join(',')}`);
  }
  return { audit };
}
