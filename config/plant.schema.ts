import { z } from 'zod';

/** Identifier of an ISA-95 / ISA-88 object: printable, no control characters. */
const Id = z.string().min(1).max(200).regex(/^[^\s\x00-\x1f]+$/, 'must be printable without spaces');

export const PlantSchema = z.strictObject({
  enterprise: z.string().min(1),
  site: z.string().min(1),
  areas: z.array(
    z.strictObject({
      id: Id,
      name: z.string(),
      cells: z.array(z.strictObject({ id: Id, name: z.string(), units: z.array(Id) })).default([]),
      lines: z.array(z.strictObject({ id: Id, name: z.string(), units: z.array(Id) })).default([]),
    }),
  ),
});

export const SourceSchema = z.strictObject({
  id: Id,
  kind: z.enum(['opcua', 'mqtt', 'external']),
  description: z.string().default(''),
  endpoint: z.string().optional(),
  publishIntervalMs: z.number().int().positive().default(500),
  heartbeatIntervalMs: z.number().int().positive().default(5000),
  gapLostAfterMs: z.number().int().positive().default(60_000),
});

export const UnitSchema = z.strictObject({
  id: Id,
  name: z.string(),
  class: z.string(),
  level: z.enum(['Unit', 'WorkCell', 'WorkUnit', 'StorageUnit']),
  source: Id,
  cleanHoldHours: z.number().positive(),
  /** Longest time from soiling to the start of cleaning without a deviation (unit machine default: 72 h). */
  dirtyHoldHours: z.number().positive().optional(),
  /** How long a sterilised unit stays sterile (unit machine default: 24 h). */
  sterileHoldHours: z.number().positive().optional(),
  /** Batches are allocated only to a sterile unit (default: clean suffices). */
  requiresSterile: z.boolean().optional(),
});

export const PhaseSchema = z
  .strictObject({
    id: Id,
    unit: Id,
    description: z.string().default(''),
    execution: z.enum(['automatic', 'manual']),
    stateTag: Id.optional(),
    commandTag: Id.optional(),
  })
  .refine((p) => p.execution === 'manual' || (p.stateTag && p.commandTag), {
    message: 'an automatic phase needs stateTag and commandTag',
  });

export const TagSchema = z.strictObject({
  tag: Id,
  unit: Id,
  source: Id,
  node: z.string().optional(),
  engUnit: z.string(),
  dataType: z.enum(['number', 'boolean', 'string']),
  limits: z.strictObject({ lo: z.number(), hi: z.number() }).optional(),
  counter: z.boolean().default(false),
  collect: z.boolean().default(true),
  description: z.string().default(''),
});

export const AlarmSchema = z.strictObject({
  id: Id,
  unit: Id,
  tag: Id,
  priority: z.enum(['low', 'medium', 'high', 'urgent']),
  critical: z.boolean(),
  /** ISA-18.2 latching: the alarm stays annunciated after the condition clears until an operator resets it. */
  latching: z.boolean().optional(),
  setpoint: z.number().optional(),
  description: z.string().default(''),
});

export const PERMISSIONS = [
  'phase.command',
  'context.assert',
  'batch.request',
  'alarm.ack',
  'sign.performer',
  'sign.second',
  'interlock.release',
  'alarm.shelve',
  'batch.release',
  'exception.close.critical',
  'config.approve',
  'diagrams.read',
  'users.manage',
  'records.read',
  'unit.line_clearance',
  'unit.clean',
  'unit.cleaning_result',
  'unit.maintenance',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const SecuritySchema = z.strictObject({
  sessionInactivityMinutes: z.number().positive(),
  sessionMaxHours: z.number().positive(),
  roles: z.record(z.string(), z.array(z.enum(PERMISSIONS))),
  demoUsers: z.array(z.strictObject({ username: Id, displayName: z.string(), roles: z.array(z.string()) })).default([]),
});

export const CommandRuleSchema = z.strictObject({
  source: Id,
  tag: Id,
  values: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
  range: z.strictObject({ min: z.number(), max: z.number() }).optional(),
  roles: z.array(z.string()),
  expiresAfterMs: z.number().int().positive(),
});

export const RuntimeSchema = z.strictObject({
  ingest: z.strictObject({
    maxSamplesPerMessage: z.number().int().positive(),
    maxMessageBytes: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    lateBufferMs: z.number().int().nonnegative(),
  }),
  actors: z.strictObject({ commandTimeoutMs: z.number().int().positive(), shards: z.array(z.string()).min(1) }),
  audit: z.strictObject({ checkpointEvery: z.number().int().positive(), checkpointIntervalMs: z.number().int().positive() }),
});

/** Each config file and the schema that validates it. */
export const FILES = {
  'plant.json': PlantSchema,
  'sources.json': z.array(SourceSchema),
  'units.json': z.array(UnitSchema),
  'phases.json': z.array(PhaseSchema),
  'tags.json': z.array(TagSchema),
  'alarms.json': z.array(AlarmSchema),
  'security.json': SecuritySchema,
  'commands.json': z.array(CommandRuleSchema),
  'runtime.json': RuntimeSchema,
} as const;

export type Source = z.infer<typeof SourceSchema>;
export type Unit = z.infer<typeof UnitSchema>;
export type PhaseDef = z.infer<typeof PhaseSchema>;
export type TagDef = z.infer<typeof TagSchema>;
export type AlarmDef = z.infer<typeof AlarmSchema>;
export type CommandRule = z.infer<typeof CommandRuleSchema>;
export type Security = z.infer<typeof SecuritySchema>;
export type RuntimeSettings = z.infer<typeof RuntimeSchema>;

/** The whole plant model, validated, cross-checked, deep-frozen and stamped with its content hash. */
export interface PlantConfig {
  readonly version: string;
  readonly dir: string;
  readonly plant: z.infer<typeof PlantSchema>;
  readonly sources: readonly Source[];
  readonly units: readonly Unit[];
  readonly phases: readonly PhaseDef[];
  readonly tags: readonly TagDef[];
  readonly alarms: readonly AlarmDef[];
  readonly security: Security;
  readonly commands: readonly CommandRule[];
  readonly runtime: RuntimeSettings;
}
