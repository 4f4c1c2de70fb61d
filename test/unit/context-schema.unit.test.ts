import { describe, expect, it } from '../helpers/bdd.ts';
import { applyInput, initialRecord, type ActorRecord } from '../../actors/apply.ts';
import { unitKind } from '../../actors/unit.actor.ts';
import { ContextMessageSchema } from '../../nats/context.schema.ts';
import { onContext, type UnitCursor } from '../../src/context/frame-rules.ts';

// One schema for a `ctx.<unit>` message (CONTRACT.md §5.3): what the unit actor publishes at an MES assertion and at
// batch end validates, and the frame rules open and close the batch's frames from exactly those messages.

const kind = unitKind([{ id: 'R101', phases: ['R101.CHARGE'], cleanHoldMs: 3_600_000, createdAt: 1_000 }]);

function published(record: ActorRecord, event: Record<string, unknown>, seq: number) {
  const applied = applyInput(kind, record, { by: 'mes', ...event } as never, seq, 'sha256:test');
  expect(applied.outcome.rejection, String(event.type)).toBeUndefined();
  const ctx = applied.record.outbox.filter((e) => e.subject === 'ctx.R101').map((e) => e.payload);
  return { record: applied.record, ctx };
}

describe('ctx.<unit> messages', () => {
  it('validates the unit actor\'s own assertion and release, and the frames of the batch close at the release', () => {
    let record = initialRecord(kind, 'R101', kind.actors.get('R101'), 'INBOX', 'test');
    const asserted = published(record, {
      type: 'ASSERT_CONTEXT', at: 2_000, contextId: 'R101/B1/1', batchId: 'B1', specVersion: '1', seq: 1, unitProcedure: 'Reaction', operation: 'CHARGE',
    }, 1);
    expect(asserted.ctx).toHaveLength(1);
    const assertion = ContextMessageSchema.parse(asserted.ctx[0]);
    expect(assertion).toMatchObject({ unit: 'R101', contextId: 'R101/B1/1', batchId: 'B1', seq: 1, at: 2_000 });
    record = asserted.record;

    const released = published(record, { type: 'RELEASE', at: 3_000, batchId: 'B1', reason: 'batch ended' }, 2);
    expect(released.ctx).toHaveLength(1);
    const release = ContextMessageSchema.parse(released.ctx[0]);
    expect(release).toEqual({ unit: 'R101', released: true, batchId: 'B1', contextId: 'R101/B1/1', seq: 1, at: 3_000, by: 'mes', reason: 'batch ended' });

    const opened = onContext({ lastSeq: -1, lastStreamSeq: 0 }, assertion, 'CONTEXT:1')!;
    expect(opened.frames.map((f) => f.kind)).toEqual(['batch', 'unitProcedure', 'operation']);
    const closed = onContext(opened.cursor, release, 'CONTEXT:2')!;
    expect(closed.frames.map((f) => [f.kind, f.end])).toEqual([['operation', 3_000], ['unitProcedure', 3_000], ['batch', 3_000]]);
    expect(closed.cursor).toMatchObject({ lastSeq: 1 });
    expect(closed.cursor.contextId).toBeUndefined();
    // the next batch's context (seq 2) opens new frames; an assertion at or below seq 1 stays stale
    expect(onContext(closed.cursor, { ...assertion, at: 4_000 }, 'CONTEXT:3')).toBeUndefined();
    expect(onContext(closed.cursor, { ...assertion, seq: 2, contextId: 'R101/B2/2', batchId: 'B2', at: 4_000 }, 'CONTEXT:3')!.frames).toHaveLength(3);
  });

  it('ignores the release of an older context, and refuses a message that is neither an assertion nor a release', () => {
    const cur: UnitCursor = { lastSeq: 5, lastStreamSeq: 9, contextId: 'c5' };
    expect(onContext(cur, { unit: 'R101', released: true, batchId: 'B1', contextId: 'c4', seq: 4, at: 1 }, 'CONTEXT:10')).toBeUndefined();
    expect(ContextMessageSchema.safeParse({ unit: 'R101', released: true, at: 1 }).success).toBe(false); // no batch
    expect(ContextMessageSchema.safeParse({ unit: 'R101', batchId: 'B1', seq: 1, at: 1 }).success).toBe(false); // no context id
    expect(ContextMessageSchema.safeParse({ unit: 'R101', released: 'yes', batchId: 'B1', at: 1 }).success).toBe(false);
  });
});
