import { HistoryData, TimestampsToReturn, type ClientSession, type DataValue, type HistoryReadResult } from 'node-opcua';
import type { TagDef } from '../../config/plant.schema.ts';
import type { Logger } from '../log.ts';
import { toSample, type Sample } from './opcua-status.ts';
import { PhaselineError } from '../errors.ts';

/** A window of lost collection: from the loss of the connection to the restored subscription (epoch ms). */
export interface OpcuaGap {
  from: number;
  to: number;
  /** Samples recovered from the server's history for this window (0 when it holds none). */
  backfilled: number;
  /** Why nothing was collected: the collector itself was stopped (it resumed from its persisted position), or it lost the connection. */
  cause: 'collector_stopped' | 'connection_lost';
}

const VALUES_PER_CALL = 1000;
const MAX_PAGES = 1000;

/**
 * Reads a node's raw history between two instants, following continuation points
 * (HistoryRead with ReadRawModifiedDetails, IEC 62541-4 §5.10.3 and IEC 62541-11 §6.4.3), source timestamps only.
 */
export async function readRawHistory(session: ClientSession, nodeId: string, from: Date, to: Date): Promise<DataValue[]> {
  const out: DataValue[] = [];
  let continuationPoint: Buffer | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r: HistoryReadResult = await session.readHistoryValue({ nodeId, continuationPoint }, from, to, {
      numValuesPerNode: VALUES_PER_CALL,
      returnBounds: false,
      timestampsToReturn: TimestampsToReturn.Source,
    });
    if (r.statusCode.isBad()) throw new PhaselineError('ERR_OPCUA_HISTORY_READ', `HistoryRead ${nodeId}: ${r.statusCode.name}`, { nodeId: String(nodeId), status: r.statusCode.name });
    if (r.historyData instanceof HistoryData) out.push(...(r.historyData.dataValues ?? []));
    continuationPoint = r.continuationPoint ?? undefined;
    if (!continuationPoint || continuationPoint.length === 0) break;
  }
  return out;
}

/**
 * Backfills a gap: for each tag, the history after the last sample delivered before the gap up to its end, in source-time
 * order, each flagged `hist`. A node the server keeps no history for is logged and skipped; nothing throws.
 */
export async function backfillGap(
  session: ClientSession,
  tags: readonly TagDef[],
  gap: { from: number; to: number },
  delivered: Map<string, number>,
  lastGood: Map<string, Sample['v']>,
  log: Logger,
): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const tag of tags) {
    const after = delivered.get(tag.tag) ?? gap.from;
    try {
      const values = await readRawHistory(session, tag.node!, new Date(after), new Date(gap.to));
      for (const dv of values) {
        const { sample } = toSample(tag, dv, lastGood);
        if (sample.ts <= after) continue;
        out.push({ ...sample, hist: true });
      }
    } catch (err) {
      log.warn({ tag: tag.tag, err: (err as Error).message }, 'OPC UA history not available for the gap');
    }
  }
  return out.sort((a, b) => a.ts - b.ts);
}
