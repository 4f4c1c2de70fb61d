import type { PlantConfig } from '../config/plant.schema.ts';
import type { ActorKind } from '../actors/kind.ts';
import { alarmKind } from '../actors/alarm.actor.ts';
import { exceptionKind } from '../actors/exception.actor.ts';
import { phaseKind } from '../actors/phase.actor.ts';
import { unitKind } from '../actors/unit.actor.ts';

/**
 * Builds the actor kinds of the plant from config: one actor per phase, unit and alarm, and the exceptions raised at
 * run time (no batch actors run yet, so exceptions do not notify batches).
 */
export function actorKinds(config: PlantConfig, now: number): ActorKind[] {
  const source = new Map(config.units.map((u) => [u.id, u.source]));
  return [
    phaseKind({
      phases: config.phases.map((p) => ({
        id: p.id, unit: p.unit, execution: p.execution,
        ...(p.execution === 'automatic' ? { source: source.get(p.unit)!, commandTag: p.commandTag! } : {}),
      })),
      commandExpiryMs: (src, tag) => config.commands.find((c) => c.source === src && c.tag === tag)?.expiresAfterMs,
    }),
    unitKind(config.units.map((u) => ({
      id: u.id,
      phases: config.phases.filter((p) => p.unit === u.id).map((p) => p.id),
      cleanHoldMs: u.cleanHoldHours * 3_600_000,
      ...(u.dirtyHoldHours ? { dirtyHoldMs: u.dirtyHoldHours * 3_600_000 } : {}),
      ...(u.sterileHoldHours ? { sterileHoldMs: u.sterileHoldHours * 3_600_000 } : {}),
      ...(u.requiresSterile ? { requiresSterile: true } : {}),
      createdAt: now,
    }))),
    alarmKind(new Map(config.alarms.map((a) => [a.id, {
      id: a.id, unit: a.unit, priority: a.priority, critical: a.critical, source: source.get(a.unit)!,
      ...(a.latching === undefined ? {} : { latching: a.latching }),
    }]))),
    exceptionKind(new Map(), { batches: false }),
  ];
}
