/**
 * Types, timer name and pure range helpers of the edge-link machine (machines/edge-link.machine.ts), kept apart so the
 * definition stays readable. No I/O, no clock: every time is an input's `at` (DESIGN.md principle 7).
 */

/** A source's connection as the runtime sees it. */
export const EDGE_LINK_STATES = ['Unknown', 'Online', 'Buffering', 'Replaying', 'Stale'] as const;

/** One edge-link state name. */
export type EdgeLinkState = (typeof EDGE_LINK_STATES)[number];

/** Name of the heartbeat deadline in `timers`. */
export const HEARTBEAT_TIMER = 'heartbeat';

/** Edge-link actor input: one actor per registered edge source (CONTRACT.md `GET /sources`). */
export interface EdgeLinkInput {
  source: string;
  /** How long after the last heartbeat the link counts as stale. */
  staleAfterMs: number;
}

/** An inclusive range of message sequence numbers of one epoch (CONTRACT.md §5.1 `seq`). */
export interface SeqRange { from: number; to: number }

/** Edge-link machine context; `timers` holds the absolute heartbeat deadline the host schedules (DESIGN.md principle 7). */
export interface EdgeLinkContext {
  source: string;
  staleAfterMs: number;
  /** The edge's current sequence epoch (CONTRACT.md §5.1). */
  epoch?: string;
  lastHeartbeatAt?: number;
  /** Edge clock of the last heartbeat. */
  lastSent?: number;
  /** Receipt time minus the edge's `sent` on the last heartbeat: clock offset plus transit time (DESIGN.md principle 8). */
  clockOffsetMs?: number;
  bufferDepth: number;
  oldestBufferedAt?: number;
  collector?: 'ok' | 'degraded' | 'down';
  /** Sequence of the last telemetry message the edge reports having sent, when it says. */
  lastSeq?: number;
  staleAt?: number;
  staleSince?: number;
  /** Missing sequence ranges of the current epoch, merged and sorted. */
  pending: SeqRange[];
  filledSeqs: number;
  lostSeqs: number;
  lostRanges: number;
  timers: Record<string, number>;
}

type Stamp = { at: number; by?: string };
type GapFields = { epoch: string; from: number; to: number };

/** Every input the machine accepts; `at` (receipt time, epoch ms) is its only clock (DESIGN.md principle 7). */
export type EdgeLinkEvent =
  | (Stamp & {
    type: 'HEARTBEAT'; sent: number; epoch: string; bufferDepth: number; oldestBufferedAt?: number;
    collector?: 'ok' | 'degraded' | 'down'; replaying?: boolean; seq?: number;
  })
  | (Stamp & { type: 'TIMER'; name: string })
  | (Stamp & GapFields & { type: 'GAP_DETECTED' })
  | (Stamp & GapFields & { type: 'GAP_FILLED' })
  | (Stamp & GapFields & { type: 'GAP_LOST'; reason?: string })
  | (Stamp & { type: 'EPOCH'; epoch: string });

/** Every code the edgeLink machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const EDGE_LINK_REJECTIONS = [
  'epoch_mismatch',
  'gap_not_pending',
  'invalid_epoch',
  'invalid_heartbeat',
  'invalid_range',
  'same_epoch',
  'timer_not_due',
  'timer_stale',
  'unknown_epoch',
  'unknown_event',
  'unknown_timer',
] as const;
export type EdgeLinkRejection = (typeof EDGE_LINK_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface EdgeLinkRejectParams { code: EdgeLinkRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams; `requirement` names the URS item it implements. */
export interface EdgeLinkMeta {
  description: string;
  /** The URS id(s) in test/model/requirements/edge-link.ts this state or transition implements. */
  requirement?: string | string[];
}

/** One field of an input, unchecked: inputs arrive from the wire and are validated by guards. */
export const fieldOf = (event: EdgeLinkEvent, name: string): unknown => (event as Record<string, unknown>)[name];
/** A finite number. */
export const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A non-blank string. */
export const filled = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
/** A message sequence number: an integer ≥ 1 (CONTRACT.md §5.1). */
export const seqNo = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** The sequence range a gap input names, unchecked. */
export const rangeOf = (event: EdgeLinkEvent): SeqRange => ({ from: Number(fieldOf(event, 'from')), to: Number(fieldOf(event, 'to')) });
/** How many sequence numbers a range holds. */
export const size = (r: SeqRange): number => r.to - r.from + 1;

/** The pending ranges with `r` added: overlapping and adjacent ranges merged, sorted by `from`. */
export function mergeRange(pending: SeqRange[], r: SeqRange): SeqRange[] {
  const out: SeqRange[] = [];
  for (const p of [...pending, r].sort((a, b) => a.from - b.from)) {
    const last = out.at(-1);
    if (last && p.from <= last.to + 1) last.to = Math.max(last.to, p.to);
    else out.push({ ...p });
  }
  return out;
}

/** The pending ranges with `r` taken out, and how many pending sequence numbers it took. */
export function subtractRange(pending: SeqRange[], r: SeqRange): { rest: SeqRange[]; removed: number } {
  const rest: SeqRange[] = [];
  let removed = 0;
  for (const p of pending) {
    if (p.to < r.from || p.from > r.to) {
      rest.push({ ...p });
      continue;
    }
    removed += Math.min(p.to, r.to) - Math.max(p.from, r.from) + 1;
    if (p.from < r.from) rest.push({ from: p.from, to: r.from - 1 });
    if (p.to > r.to) rest.push({ from: r.to + 1, to: p.to });
  }
  return { rest, removed };
}
