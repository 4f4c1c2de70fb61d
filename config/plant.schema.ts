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
  /** OPC UA security policy (IEC 62541-7 §6.6); an `opcua` source without it uses Basic256Sha256. */
  securityPolicy: z.enum(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']).optional(),
  /** OPC UA message security mode (IEC 62541-4 §7.20); an `opcua` source without it uses SignAndEncrypt. */
  securityMode: z.enum(['None', 'Sign', 'SignAndEncrypt']).optional(),
  /** OPC UA user identity (IEC 62541-4 §7.36); secrets live in files under PHASELINE_VAR, never in the config. */
  identity: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('anonymous') }),
      z.strictObject({ type: z.literal('username'), username: z.string().min(1), passwordFile: z.string().min(1) }),
      z.strictObject({ type: z.literal('certificate'), certificateFile: z.string().min(1), privateKeyFile: z.string().min(1) }),
    ])
    .optional(),
  /** Sparkplug B primary host settings of a `kind: "mqtt"` source (Sparkplug B 3.0 ch. 5 Host Application): set to collect from MQTT. */
  sparkplug: z
    .strictObject({
      group: z.string().min(1),
      hostId: z.string().min(1),
      reorderTimeoutMs: z.number().int().positive().default(2000),
    })
    .optional(),
  /** The edge's store-and-forward disk buffer (defaults: 256 MiB, 8 MiB segments, fsync per 64 records or 5 ms, drop oldest with an alarm). */
  buffer: z
    .strictObject({
      maxBytes: z.number().int().min(65_536).default(256 * 2 ** 20),
      segmentBytes: z.number().int().min(4096).default(8 * 2 ** 20),
      fsyncEveryRecords: z.number().int().positive().default(64),
      fsyncEveryMs: z.number().int().nonnegative().default(5),
      overflow: z.enum(['block', 'drop-oldest-with-alarm']).default('drop-oldest-with-alarm'),
    })
    .optional(),
  /** TLS for `mqtts://` endpoints: the CA bundle (relative to the config directory) that signs the broker's certificate. */
  tls: z.strictObject({ caFile: z.string().min(1) }).optional(),
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
  /** OPC UA sampling interval of this tag's monitored item (IEC 62541-4 §5.12.1.2); default: the source's. */
  samplingIntervalMs: z.number().int().min(0).optional(),
  /** OPC UA DataChangeFilter deadband (IEC 62541-4 §7.22.2); `percent` needs the node's EURange. */
  deadband: z.strictObject({ type: z.enum(['absolute', 'percent']), value: z.number().min(0) }).optional(),
  /** Where a Sparkplug B edge publishes this tag (Sparkplug B 3.0 ch. 4 topic namespace; `device` absent = node metric). */
  sparkplug: z
    .strictObject({ group: z.string().min(1), node: z.string().min(1), device: z.string().min(1).optional(), metric: z.string().min(1) })
    .optional(),
  engUnit: z.string(),
  dataType: z.enum(['number', 'boolean', 'string']),
  limits: z.strictObject({ lo: z.number(), hi: z.number() }).optional(),
  /**
   * Normalisation applied by the runtime to a numeric raw value before it is aggregated (lineage keeps the raw
   * value): linear range mapping, or `raw × factor + offset` (e.g. a unit conversion from `rawUnit` to `engUnit`).
   */
  scale: z
    .union([
      z.strictObject({ rawLo: z.number(), rawHi: z.number(), engLo: z.number(), engHi: z.number() })
        .refine((s) => s.rawHi !== s.rawLo, { message: 'rawHi must differ from rawLo' }),
      z.strictObject({ factor: z.number(), offset: z.number().default(0) }),
    ])
    .optional(),
  /** Unit of the raw value when it differs from `engUnit` (documentation of the conversion in `scale`). */
  rawUnit: z.string().optional(),
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
  'audit.disposition',
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

/** The roles of the permission table that grant `permission` (e.g. who may give a second signature, 21 CFR 11.200). */
export function rolesWith(config: Pick<PlantConfig, 'security'>, permission: Permission): string[] {
  return Object.entries(config.security.roles).filter(([, ps]) => ps.includes(permission)).map(([role]) => role);
}

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
  /** At most this many writes of this tag per minute at the edge; more are refused `rate_limited` (a runaway loop). */
  maxPerMinute: z.number().int().positive().default(60),
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
  /** Edge clock supervision: offsets beyond the tolerance are flagged and annotated (never rewritten). */
  clock: z
    .strictObject({
      skewToleranceMs: z.number().int().positive().default(2000),
      /** Observations (heartbeats and live messages) per source in the estimator's sliding window. */
      window: z.number().int().min(8).max(4096).default(64),
    })
    .default({ skewToleranceMs: 2000, window: 64 }),
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
