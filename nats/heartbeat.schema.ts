import { z } from 'zod';

/**
 * An edge heartbeat on `hb.<sourceId>` (CONTRACT.md §5.2): liveness, the depth of the store-and-forward buffer
 * (which keeps sequence gaps pending) and the edge clock, from which the runtime derives the clock offset.
 */
export const HeartbeatSchema = z.object({
  src: z.string().min(1),
  epoch: z.string().min(1),
  sent: z.number().finite(),
  bufferDepth: z.number().int().nonnegative(),
  oldestBufferedAt: z.number().finite().optional(),
  collector: z.enum(['ok', 'degraded', 'down']),
});

export type Heartbeat = z.infer<typeof HeartbeatSchema>;
