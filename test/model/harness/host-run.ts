import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorRecord } from '../../../actors/apply.ts';
import type { InputOutcome } from '../../../actors/envelope.ts';
import { ActorHost } from '../../../actors/host.ts';
import type { LogPort, MetricsPort } from '../../../actors/ports.ts';
import { decode } from '../../../nats/codec.ts';
import { encodeId } from '../../../nats/ids.ts';
import { ensureBuckets, ensureStreams } from '../../../nats/streams.ts';
import type { ModelAdapter } from './adapter.ts';
import type { Plan } from './generate.ts';

/** What the real host did with one step: its answer and the record it persisted. */
export interface HostStep {
  outcome?: InputOutcome;
  persisted?: ActorRecord;
}

/** One path as run on the host: the record created for the actor, then one entry per step. */
export interface HostPath {
  actorId: string;
  created?: ActorRecord;
  steps: HostStep[];
  /** The step index before which the host was stopped and a new host rehydrated from the snapshots. */
  restoredAt: number;
}

export interface HostRun {
  paths: HostPath[];
  deadLetters: string[];
  hostRestarts: number;
  ms: number;
}

const quietLog: LogPort = { info() {}, warn() {}, error() {}, debug() {} };
const noMetrics: MetricsPort = { inc() {}, set() {} };

/**
 * Runs every planned path against the real actor host over a real NATS JetStream connection (injected): each path is
 * one actor; steps are sent in waves (step k of every path at once, each path's steps in order); after the first half
 * of every path the host is stopped and a new host rehydrates every actor from its persisted snapshot, then the rest
 * of every path runs on the new host (restore from snapshot mid-path and continue).
 */
export async function runOnHost(adapter: ModelAdapter, plan: Plan, nc: NatsConnection): Promise<HostRun> {
  const started = Date.now();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  const buckets = await ensureBuckets(nc);
  const variants = new Map(adapter.variants.map((v) => [v.name, v]));
  const ids = plan.paths.map((p) => p.id.replace('#', '-'));
  const actors = new Map(plan.paths.map((p, i) => [ids[i]!, variants.get(p.variant)!.input(ids[i]!)]));
  const kind = adapter.kind(actors);
  const deadLetters: string[] = [];
  let instance = 0;
  const makeHost = () => new ActorHost({
    nc, js, jsm, kv: buckets.actors, leases: buckets.leases, kinds: [kind], configVersion: 'sha256:model', log: quietLog,
    metrics: noMetrics, deadLetter: async (l) => void deadLetters.push(`${l.reason}: ${l.detail}`),
    instance: { owner: `model-${adapter.name}-${++instance}`, host: 'model', pid: 0, alive: () => false }, now: Date.now, leaseTtlMs: 2_000,
  });
  const read = async (id: string): Promise<ActorRecord | undefined> => {
    const e = await buckets.actors.get(`${kind.type}.${encodeId(id)}`);
    return e?.operation === 'PUT' ? (decode(e.value) as ActorRecord) : undefined;
  };

  const out: HostPath[] = plan.paths.map((p, i) => ({ actorId: ids[i]!, steps: [], restoredAt: Math.ceil(p.steps.length / 2) }));
  let host = makeHost();
  await host.start();
  await Promise.all(ids.map(async (id, i) => (out[i]!.created = await read(id))));
  const longest = Math.max(0, ...plan.paths.map((p) => p.steps.length));
  const wave = async (k: number, phase: 'first' | 'second') => {
    await Promise.all(plan.paths.map(async (p, i) => {
      const path = out[i]!;
      const inFirst = k < path.restoredAt;
      if (k >= p.steps.length || (phase === 'first') !== inFirst) return;
      const outcome = await host.send(kind.type, ids[i]!, p.steps[k]!.candidate.event, { timeoutMs: 10_000 });
      path.steps[k] = { outcome, persisted: await read(ids[i]!) };
    }));
  };
  try {
    for (let k = 0; k < longest; k++) await wave(k, 'first');
    await host.stop();
    host = makeHost(); // a new host: every actor rehydrated from KV
    await host.start();
    for (let k = 0; k < longest; k++) await wave(k, 'second');
  } finally {
    await host.stop();
  }
  return { paths: out, deadLetters, hostRestarts: 1, ms: Date.now() - started };
}
