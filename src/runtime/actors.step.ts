import { hostname } from 'node:os';
import { nuid } from '@nats-io/transport-node';
import { rolesWith, type PlantConfig } from '../../config/plant.schema.ts';
import { ActorHost } from '../../actors/host.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { isAlive } from '../broker/process.ts';
import { startAlarmFeed } from '../context/alarm-feed.ts';
import { logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { startCommandOutcomes } from '../records/command-outcomes.ts';
import { startExceptionRaiser } from '../records/exception-raiser.ts';
import { actorKinds } from '../runtime-actors.ts';
import type { Bus } from './bus.step.ts';
import type { StopStack } from './stops.ts';

/**
 * The actors and what feeds them: the actor host (DESIGN.md principles 2–4), command outcomes into the audit trail,
 * the exception raiser for critical alarms and the alarm feed from `alm.<src>`.
 */
export async function startActors(config: PlantConfig, bus: Bus, metrics: Metrics, stops: StopStack): Promise<ActorHost> {
  const { nc, js, jsm, buckets } = bus;
  const host = new ActorHost({
    nc, js, jsm, kv: buckets.actors, leases: buckets.leases, kinds: actorKinds(config, Date.now()),
    configVersion: config.version, log: logger('actors'), metrics,
    deadLetter: (l) => deadLetter(js, metrics, l, `dlq:INBOX:${l.streamSeq}`),
    instance: { owner: `${hostname()}:${process.pid}:${nuid.next()}`, host: hostname(), pid: process.pid, alive: isAlive }, now: Date.now,
  });
  await host.start();
  stops.push('actor host', () => host.stop());

  const outcomes = startCommandOutcomes({ js, jsm, configVersion: config.version, log: logger('commands'), metrics });
  stops.push('command outcomes', () => outcomes.stop());

  const raiser = await startExceptionRaiser({
    jsm, host, log: logger('exceptions'), metrics,
    alarms: new Map(config.alarms.filter((a) => a.critical).map((a) => [a.id, { id: a.id, unit: a.unit, description: a.description }])),
    secondSignerRoles: rolesWith(config, 'sign.second'), closeRoles: rolesWith(config, 'exception.close.critical'),
  });
  stops.push('exception raiser', () => raiser.stop());

  const alarmFeed = await startAlarmFeed({
    js, jsm, metrics, log: logger('alarms'), maxBytes: config.runtime.ingest.maxMessageBytes,
    alarms: new Map(config.alarms.map((a) => [a.id, { source: config.units.find((u) => u.id === a.unit)!.source }])),
    deadLetter: (l) => deadLetter(js, metrics, l, `dlq:ALARMS:${l.streamSeq}`),
  });
  stops.push('alarm feed', () => alarmFeed.stop());
  return host;
}
