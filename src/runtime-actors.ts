import type { PlantConfig } from '../config/plant.schema.ts';
import type { ActorKind } from '../actors/kind.ts';
import { phaseKind } from '../actors/phase.actor.ts';
import { unitKind } from '../actors/unit.actor.ts';

/** Builds the actor kinds of the plant from config: one phase actor per phase, one unit actor per unit. */
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
      createdAt: now,
    }))),
  ];
}
