import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyInput, initialRecord } from '../../actors/apply.ts';
import { decode, encode } from '../../nats/codec.ts';
import type { Buckets } from '../../nats/streams.ts';
import { hostFixture } from '../helpers/host-fixture.ts';

const fx = hostFixture();
const at = () => Date.now();
const { makeHost, send, waitFor, subjectMessages, metrics } = fx;
let nc: NatsConnection;
let buckets: Buckets;
beforeAll(() => void ({ nc, buckets } = fx));

describe('actor host', () => {
  it('applies inputs in order, persists snapshot and outbox, publishes events and audit requests', async () => {
    const host = makeHost();
    await host.start();
    try {
      const refused = await send(host, 'phase', 'R201.HEAT', { type: 'START' });
      expect(refused?.rejection?.code).toBe('permissive_failed');
      expect(refused?.state).toBe('Idle');

      const ctx = await send(host, 'unit', 'R201', { type: 'ASSERT_CONTEXT', contextId: 'c1', batchId: 'B1', specVersion: '1', seq: 1 });
      expect(ctx?.accepted).toBe(true);
      expect(ctx?.view).toMatchObject({ contextId: 'c1', seq: 1 });
      await waitFor(() => (host.get('phase', 'R201.HEAT')?.snapshot.context as any).permissives.contextId === 'c1');

      const started = await send(host, 'phase', 'R201.HEAT', { type: 'START' });
      expect(started).toMatchObject({ accepted: true, from: 'Idle', state: 'Running' });
      const bad = await send(host, 'phase', 'R201.HEAT', { type: 'RESET' });
      expect(bad?.rejection).toMatchObject({ code: 'command_not_allowed', state: 'Running' });
      expect((bad?.rejection as any).allowed.sort()).toEqual(['abort', 'hold', 'pause', 'stop']);

      const events = await subjectMessages('EVENTS', 'evt.phase.R201=2EHEAT');
      expect(events.map((e) => (e.data as any).to)).toEqual(['Running']);
      const audits = (await subjectMessages('INBOX', 'inbox.audit.writer')).map((m) => (m.data as any).action);
      expect(audits).toContain('phase.start.rejected');
      expect(audits).toContain('phase.start');
      expect(audits).toContain('phase.transition');
      expect(audits).toContain('context.asserted');
      const ctxMsgs = await subjectMessages('CONTEXT', 'ctx.R201');
      expect(ctxMsgs.at(-1)?.data).toMatchObject({ unit: 'R201', contextId: 'c1', batchId: 'B1' });
    } finally {
      await host.stop();
    }
  });

  it('rehydrates every actor where it was and skips inputs it already applied', async () => {
    const host = makeHost();
    await host.start();
    const before = host.get('phase', 'R201.HEAT')!;
    expect(before.snapshot.value).toBe('Running');
    // Redeliver an input that was applied already: same stream seq as applied → skipped.
    const held = await send(host, 'phase', 'R201.HEAT', { type: 'HOLD' });
    expect(held?.state).toBe('Holding');
    await host.stop();
    const again = makeHost();
    await again.start();
    try {
      expect(again.get('phase', 'R201.HEAT')?.snapshot.value).toBe('Holding');
      expect(again.get('phase', 'R201.HEAT')?.lastSeq).toBe(held?.seq);
    } finally {
      await again.stop();
    }
  });

  it('publishes the outbox again on rehydrate (a crash between persist and publish loses no effect)', async () => {
    // Simulate a crash after the KV write and before the publish: an outbox nobody has published yet.
    const e = await buckets.actors.get('phase.R201=2EHEAT');
    const rec = decode(e!.value) as any;
    const effect = { subject: 'evt.phase.R201=2EHEAT', payload: { actor: 'R201.HEAT', from: 'Running', to: 'Holding', marker: 'unpublished' }, msgId: 'phase.R201.HEAT:99999:0' };
    delete rec.outboxPublished; // persisted, not yet published
    await buckets.actors.put('phase.R201=2EHEAT', encode({ ...rec, outbox: [effect] }));
    const host = makeHost();
    await host.start();
    try {
      const events = await subjectMessages('EVENTS', 'evt.phase.R201=2EHEAT');
      expect(events.filter((e) => (e.data as any).marker === 'unpublished')).toHaveLength(1);
    } finally {
      await host.stop();
    }
  });

  it('sends allowlisted PLC writes for automatic phases and follows the reported state only', async () => {
    const host = makeHost();
    await host.start();
    try {
      await send(host, 'unit', 'R101', { type: 'ASSERT_CONTEXT', contextId: 'k1', batchId: 'B9', specVersion: '1', seq: 1 });
      await waitFor(() => (host.get('phase', 'R101.CHARGE')?.snapshot.context as any).permissives.contextId === 'k1');
      const out = await send(host, 'phase', 'R101.CHARGE', { type: 'START' });
      expect(out).toMatchObject({ accepted: true, state: 'Idle' });
      const cmds = await subjectMessages('COMMANDS', 'cmd.sim');
      expect(cmds.at(-1)?.data).toMatchObject({ tag: 'R101.CHARGE.CMD', value: 'START', by: 'tester' });
      const plc = await send(host, 'phase', 'R101.CHARGE', { type: 'PLC_STATE', state: 'Running', by: 'plc:sim' });
      expect(plc?.state).toBe('Running');
      const sc = await send(host, 'phase', 'R101.CHARGE', { type: 'STATE_COMPLETE' });
      expect(sc?.rejection?.code).toBe('automatic_phase');
    } finally {
      await host.stop();
    }
  });

  it('rejects stale MES sequences and fires the clean-hold deadline of a passed CIP as an input', async () => {
    const host = makeHost(500);
    await host.start();
    try {
      const stale = await send(host, 'unit', 'R201', { type: 'ASSERT_CONTEXT', contextId: 'c0', batchId: 'B1', specVersion: '1', seq: 1 });
      expect(stale?.rejection).toMatchObject({ code: 'stale_sequence', lastSeq: 1 });
      await send(host, 'unit', 'T1', { type: 'MARK_DIRTY' });
      expect((await send(host, 'unit', 'T1', { type: 'CIP_START' }))?.state).toBe('Available/Cleaning');
      expect((await send(host, 'unit', 'T1', { type: 'CIP_COMPLETE', ok: true, by: 'plc:test' }))?.state).toBe('Available/Clean');
      await waitFor(() => (host.get('unit', 'T1')?.snapshot.value as any).hygiene === 'Dirty', 5_000);
    } finally {
      await host.stop();
    }
  });

  it('dead-letters inputs for unknown actors and malformed envelopes, and keeps going', async () => {
    const host = makeHost();
    await host.start();
    try {
      const js = jetstream(nc);
      await js.publish('inbox.phase.NOPE', encode({ event: { type: 'START', at: 1 } }));
      await js.publish('inbox.phase.R201=2EHEAT', new Uint8Array([0xc1, 0xff]));
      await js.publish('inbox.phase.R201=2EHEAT', encode({ nothing: true }));
      const ok = await send(host, 'phase', 'R201.HEAT', { type: 'STOP' });
      expect(ok?.state).toBe('Stopping');
      const dl = (await subjectMessages('DEADLETTER', 'dlq.inbox.>')).map((m) => (m.data as any).reason);
      expect(dl).toEqual(['unknown_actor', 'invalid', 'invalid']);
    } finally {
      await host.stop();
    }
  });

  it('replays the recorded inbox of an actor through the pure machine to the same snapshot it persisted', async () => {
    const host = makeHost();
    await host.start();
    try {
      const kind = host.kind('phase')!;
      const persisted = host.get('phase', 'R101.CHARGE')!;
      const inputs = (await subjectMessages('INBOX', 'inbox.phase.R101=2ECHARGE')).filter((m) => m.seq <= persisted.lastSeq);
      expect(inputs.length).toBeGreaterThan(2);
      let record = initialRecord(kind, 'R101.CHARGE', kind.actors.get('R101.CHARGE'), 'INBOX', persisted.incarnation!);
      for (const m of inputs) record = applyInput(kind, record, (m.data as any).event, m.seq, 'sha256:test').record;
      expect(record.snapshot).toEqual(persisted.snapshot);
      expect(record.outbox).toEqual(persisted.outbox);
    } finally {
      await host.stop();
    }
  });

  it('quarantines an actor whose snapshot is gone but whose inbox has history, instead of resetting it', async () => {
    await buckets.actors.delete('phase.R201=2EHEAT');
    const host = makeHost();
    await host.start();
    try {
      expect(host.get('phase', 'R201.HEAT')?.quarantined?.reason).toMatch(/history but no snapshot/);
      const out = await send(host, 'phase', 'R201.HEAT', { type: 'RESET' });
      expect(out?.rejection?.code).toBe('actor_quarantined');
      expect(metrics.get('phaseline_actors_quarantined_total', { type: 'phase' })).toBeGreaterThan(0);
    } finally {
      await host.stop();
    }
  });

  it('quarantines a snapshot of another machine version', async () => {
    const e = await buckets.actors.get('unit.R101');
    const rec = decode(e!.value) as any;
    await buckets.actors.put('unit.R101', encode({ ...rec, machineVersion: 99 }));
    const host = makeHost();
    await host.start();
    try {
      expect(host.get('unit', 'R101')?.quarantined?.reason).toMatch(/version 99/);
    } finally {
      await host.stop();
    }
  });

  it('migrates a snapshot of an older machine version with the kind\'s explicit function, then applies inputs', async () => {
    const before = decode((await buckets.actors.get('phase.R101=2ECHARGE'))!.value) as any;
    expect(before.machineVersion).toBe(1);
    const calls: number[] = [];
    const migrate = (from: number, state: { value: unknown; context: Record<string, unknown> }) => {
      calls.push(from);
      return from === 1 ? { value: state.value, context: { ...state.context, mode: 'Automatic' } } : undefined;
    };
    const host = makeHost(undefined, { version: 2, migrate });
    await host.start();
    try {
      expect(calls).toEqual([1]);
      const rec = host.get('phase', 'R101.CHARGE')!;
      expect(rec.quarantined).toBeUndefined();
      expect(rec.machineVersion).toBe(2);
      expect(rec.snapshot.value).toBe(before.snapshot.value);
      const stored = decode((await buckets.actors.get('phase.R101=2ECHARGE'))!.value) as any;
      expect(stored.machineVersion).toBe(2);
      expect(metrics.get('phaseline_actors_migrated_total', { type: 'phase' })).toBe(1);
      const out = await send(host, 'phase', 'R101.CHARGE', { type: 'BOGUS' });
      expect(out?.rejection?.code).toBe('unknown_event');
    } finally {
      await host.stop();
    }
    // a version the function does not know (or a snapshot newer than the machine) is quarantined, not guessed
    const refusing = makeHost(undefined, { version: 3, migrate: () => undefined });
    await refusing.start();
    try {
      expect(refusing.get('phase', 'R101.CHARGE')?.quarantined?.reason).toMatch(/version 2, running version 3: no migration/);
    } finally {
      await refusing.stop();
    }
  });

  it('migrates a persisted version 1 unit snapshot on rehydrate (machines/unit.machine.ts migrateUnitSnapshot)', async () => {
    const e = await buckets.actors.get('unit.R201');
    const rec = decode(e!.value) as any;
    const cleanUntil = Date.now() + 3_600_000;
    const v1 = {
      value: { availability: 'Available', hygiene: 'Clean' },
      context: { id: 'R201', phases: ['R201.HEAT'], cleanHoldMs: 3_600_000, lastSeq: rec.snapshot.context.lastSeq ?? 0, cleanUntil, timers: { cleanHold: cleanUntil } },
    };
    await buckets.actors.put('unit.R201', encode({ ...rec, machineVersion: 1, snapshot: v1 }));
    const host = makeHost();
    await host.start();
    try {
      const unit = host.get('unit', 'R201')!;
      expect(unit.quarantined).toBeUndefined();
      expect(unit.machineVersion).toBe(2);
      expect(unit.snapshot.value).toEqual({ availability: 'Available', hygiene: 'Clean' });
      expect(unit.snapshot.context).toMatchObject({ cleanUntil, dirtyHoldMs: expect.any(Number) });
      // a migrated unit needs a line clearance before it is allocated again
      const out = await send(host, 'unit', 'R201', { type: 'ALLOCATE', batchId: 'B9' });
      expect(out?.rejection?.code).toBe('line_clearance_required');
    } finally {
      await host.stop();
    }
  });

  it('creates actors of a creatable kind at run time, with their entry effects, once, and finds them again on rehydrate', async () => {
    const input = {
      id: 'EXC-T1', kind: 'alarm', critical: true, source: 'alarm:R201.TT01.HI', phase: 'R201.HEAT', openedAt: at(), openedBy: 'alarm:R201.TT01.HI',
      description: 'test', secondSignerRoles: ['supervisor'], closeRoles: ['qa'],
    };
    const host = makeHost();
    await host.start();
    try {
      const created = await send(host, 'exception', 'EXC-T1', { type: 'CREATE', input });
      expect(created).toMatchObject({ accepted: true, state: 'Open', from: '' });
      // the entry action told the phase it has an unsigned critical exception (an input on the phase's inbox)
      const toPhase = (await subjectMessages('INBOX', 'inbox.phase.R201=2EHEAT')).map((m) => (m.data as any).event);
      expect(toPhase).toContainEqual(expect.objectContaining({ type: 'CRITICAL_EXCEPTION', id: 'EXC-T1', unsigned: true }));
      const again = await send(host, 'exception', 'EXC-T1', { type: 'CREATE', input: { ...input, critical: false } });
      expect(again?.rejection?.code).toBe('already_exists');
      expect((host.get('exception', 'EXC-T1')!.snapshot.context as any).critical).toBe(true);
      // an input the machine cannot start from is refused and dead-lettered; the shard goes on
      const broken = await send(host, 'exception', 'EXC-T2', { type: 'CREATE', input: { id: 'EXC-T2', secondSignerRoles: 3 } });
      expect(broken?.rejection?.code).toBe('invalid_request');
      expect(host.get('exception', 'EXC-T2')).toBeUndefined();
      const ack = await send(host, 'exception', 'EXC-T1', { type: 'ACKNOWLEDGE' });
      expect(ack?.state).toBe('Acknowledged');
      // a kind that is not creatable: a CREATE for an unknown id is dead-lettered, nothing is created
      const phantom = await send(host, 'phase', 'R999.GHOST', { type: 'CREATE', input: { id: 'R999.GHOST', unit: 'R999', execution: 'manual' } });
      expect(phantom?.rejection?.code).toBe('not_found');
      expect(host.get('phase', 'R999.GHOST')).toBeUndefined();
    } finally {
      await host.stop();
    }
    const again = makeHost();
    await again.start();
    try {
      expect(again.get('exception', 'EXC-T1')?.snapshot.value).toBe('Acknowledged');
      const audits = (await subjectMessages('INBOX', 'inbox.audit.writer')).map((m) => (m.data as any).action);
      expect(audits.filter((a) => a === 'exception.created')).toHaveLength(1);
    } finally {
      await again.stop();
    }
  });
});
