import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { INCARNATION_KEY, newIncarnation } from './stream-identity.ts';

const DAY_NS = 24 * 3600 * 1e9;

/** Stream definitions as code (CONTRACT.md §5); created or updated idempotently by {@link ensureStreams}. */
export const STREAMS: Record<string, Partial<StreamConfig>> = {
  TELEMETRY: { subjects: ['tlm.>'], max_age: 30 * DAY_NS },
  ALARMS: { subjects: ['alm.>'], max_age: 90 * DAY_NS },
  INBOX: { subjects: ['inbox.>'] },
  EVENTS: { subjects: ['evt.>'] },
  CONTEXT: { subjects: ['ctx.>'], max_msgs_per_subject: 1 },
  COMMANDS: { subjects: ['cmd.>', 'cmdres.>'], max_age: 30 * DAY_NS },
  AUDIT: { subjects: ['audit'], deny_delete: true, deny_purge: true },
  DEADLETTER: { subjects: ['dlq.>'], max_age: 365 * DAY_NS },
};

/** KV buckets: actor snapshots + outboxes, ingest commits, event frames, auth, idempotency, leases. */
export const BUCKETS = {
  actors: { history: 1 },
  ingest: { history: 1 },
  frames: { history: 1 },
  users: { history: 5 },
  sessions: { history: 1 },
  idempotency: { history: 1, ttl: 24 * 3600 * 1000 },
  leases: { history: 1 },
  /** Sample lineage: per-message receipt records (`msg.*`) and each tag dictionary version (`dict.*`). */
  lineage: { history: 1 },
  /** Every audit request id the writer has chained, per INBOX incarnation (src/records/audit-ids.ts). */
  audit: { history: 1 },
} as const;

export type BucketName = keyof typeof BUCKETS;
export type Buckets = Record<BucketName, KV>;

/** The full configuration of a stream: the product's common settings (file storage, 2-minute dedupe) plus `def`. */
export function streamConfig(name: string, def: Partial<StreamConfig>): Partial<StreamConfig> & { name: string } {
  return {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
    duplicate_window: 120 * 1e9,
    allow_direct: true,
    ...def,
    name,
  };
}

/** What {@link ensureStreams} did to a stream's identity (kept it, minted it for a new stream, or gave an old one its first), and the identity. */
export interface StreamIdentityChange {
  change: 'kept' | 'created' | 'upgraded';
  incarnation: string;
}

/**
 * Creates every stream with a new incarnation id in its metadata, or updates it to the definition here keeping its
 * incarnation (nats/stream-identity.ts); a stream made before incarnations existed gets its first (`upgraded`).
 */
export async function ensureStreams(jsm: JetStreamManager): Promise<Record<string, StreamIdentityChange>> {
  const out: Record<string, StreamIdentityChange> = {};
  for (const [name, def] of Object.entries(STREAMS)) {
    const config = streamConfig(name, def);
    let existing: Record<string, string> | undefined;
    try {
      existing = (await jsm.streams.info(name)).config.metadata ?? {};
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (existing === undefined) {
      const incarnation = newIncarnation();
      await jsm.streams.add({ ...config, metadata: { [INCARNATION_KEY]: incarnation } });
      out[name] = { change: 'created', incarnation };
      continue;
    }
    const kept = existing[INCARNATION_KEY];
    const incarnation = kept ?? newIncarnation();
    await jsm.streams.update(name, { ...config, metadata: { ...ours(existing), [INCARNATION_KEY]: incarnation } });
    out[name] = { change: kept ? 'kept' : 'upgraded', incarnation };
  }
  return out;
}

/** Metadata entries that are not the server's own (`_nats.*`, set by nats-server 2.11+ on every update). */
function ours(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).filter(([k]) => !k.startsWith('_nats')));
}

/** Opens (creating when missing) every KV bucket. */
export async function ensureBuckets(nc: NatsConnection): Promise<Buckets> {
  const kvm = new Kvm(nc);
  const out = {} as Buckets;
  for (const [name, opts] of Object.entries(BUCKETS) as [BucketName, (typeof BUCKETS)[BucketName]][]) {
    out[name] = await kvm.create(`phaseline_${name}`, { storage: StorageType.File, ...opts });
  }
  return out;
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || /stream not found/i.test(String(e?.message));
}
