import { z } from 'zod';

/** One alarm event as the control system reports it (CONTRACT.md §5.2; ISA-18.2 states mirrored, not decided). */
export const AlarmEventSchema = z.looseObject({
  alarm: z.string().min(1).max(200),
  active: z.boolean(),
  ts: z.number().finite(),
  acked: z.boolean().optional(),
  ackedBy: z.string().max(200).optional(),
  latched: z.boolean().optional(),
  shelved: z.boolean().optional(),
  suppressed: z.boolean().optional(),
  outOfService: z.boolean().optional(),
  value: z.unknown().optional(),
  message: z.string().max(2000).optional(),
});

/** An `alm.<src>` message (CONTRACT.md §5.2): the edge's sequence makes each event applied once. */
export const AlarmMessageSchema = z.looseObject({
  src: z.string().min(1).max(200),
  epoch: z.union([z.string().min(1).max(100), z.number()]),
  seq: z.number().int().min(1),
  sent: z.number().finite(),
  events: z.array(AlarmEventSchema).min(1).max(1000),
});

export type AlarmEvent = z.infer<typeof AlarmEventSchema>;
export type AlarmMessage = z.infer<typeof AlarmMessageSchema>;
