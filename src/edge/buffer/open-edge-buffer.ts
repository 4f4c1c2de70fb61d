import { join } from 'node:path';
import type { Source } from '../../../config/plant.schema.ts';
import { encodeId } from '../../../nats/ids.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { DiskBuffer, type OverflowEvent } from './disk-buffer.ts';

/** Where a source's buffer lives: next to its sequence store, `<varDir>/edge/<src>/buffer`. */
export function edgeBufferDir(varDir: string, src: string): string {
  return join(varDir, 'edge', encodeId(src), 'buffer');
}

/**
 * Opens the store-and-forward disk buffer of one source with the source's configured bounds (`sources.json`
 * `buffer`); an overflow is logged as an alarm and counted, and `onOverflow` lets the collector report it.
 */
export function openEdgeBuffer(o: {
  varDir: string;
  source: Source;
  log: Logger;
  metrics: Metrics;
  onOverflow?(e: OverflowEvent): void;
}): Promise<DiskBuffer> {
  const b = o.source.buffer;
  return DiskBuffer.open({
    dir: edgeBufferDir(o.varDir, o.source.id),
    ...(b ?? {}),
    log: o.log.child({ buffer: o.source.id }),
    metrics: o.metrics,
    labels: { src: o.source.id },
    onOverflow: o.onOverflow,
  });
}
