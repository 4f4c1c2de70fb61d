import { jetstream } from '@nats-io/jetstream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ActorHost } from '../../actors/host.ts';
import type { InputEnvelope } from '../../actors/envelope.ts';
import type { LogPort } from '../../actors/ports.ts';
import { encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import { logger } from '../../src/log.ts';
import { startExceptionRaiser } from '../../src/records/exception-raiser.ts';
import { hostFixture } from '../helpers/host-fixture.ts';
import { eventually } from '../helpers/phaseline-process.ts';

// DESIGN.md principle 15: a critical alarm's activation that arrives again after a restart, past JetStream's
// duplicate window (here shortened to 1 s so the test need not wait two minutes), re-raises and re-holds nothing;
// what the raiser does is decided from the actors bucket, not from the message.

const ALARM = 'R201.TT01.HI';
const PHASE = 'R201.HEAT';
const WINDOW_NS = 1e9;

const fx = hostFixture();
const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
const base = logger('test-raiser');
const log: LogPort = Object.fromEntries((['info', 'warn', 'error', 'debug'] as const).map((level) => [level,
  (obj: object, msg?: string) => { lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' }); base[level](obj, msg); }])) as never;

/** Polls `f` until it is truthy (a probe that throws counts as not yet: the raiser recreates its durable consumer). */
const waitFor = (f: () => unknown, ms = 10_000) => eventually(async () => f(), ms, 25);

interface Running { host: ActorHost; raiser: { stop(): Promise<void> } }

async function start(): Promise<Running> {
  const host = fx.makeHost();
  await host.start();
  const raiser = await startExceptionRaiser({
    jsm: fx.jsm, host, log, metrics: fx.metrics, timeoutMs: 5_000,
    alarms: new Map([[ALARM, { id: ALARM, unit: 'R201', description: 'TT01 high' }]]),
    secondSignerRoles: ['supervisor'], closeRoles: ['qa'],
  });
  return { host, raiser };
}

async function stop(r: Running): Promise<void> {
  await r.raiser.stop();
  await r.host.stop();
}

const send = async (r: Running, type: string, id: string, event: Record<string, unknown>) => {
  const outcome = await fx.send(r.host, type, id, event);
  expect(outcome?.rejection, `${type} ${id} ${String(event.type)}`).toBeUndefined();
  return outcome!;
};
const phaseState = (r: Running) => String(r.host.get('phase', PHASE)?.snapshot.value);
const phaseCtx = (r: Running) => r.host.get('phase', PHASE)!.snapshot.context as { permissives: { contextId?: string; unsignedCriticalExceptions: string[] } };

/** The activation of the alarm as the alarm actor publishes it on EVENTS (the raiser reads nothing else). */
const activation = (seq: number) => encode({ actor: ALARM, type: 'alarm', from: 'Normal', to: 'Unacknowledged', event: 'REPORT', at: Date.now(), by: 'plc:line2', seq });

async function publishActivation(data: Uint8Array, msgID: string): Promise<number> {
  const ack = await jetstream(fx.nc).publish(subjects.event('alarm', ALARM), data, { msgID });
  expect(ack.duplicate).toBe(false);
  return ack.seq;
}

/** Resolves once the raiser's durable consumer has acknowledged EVENTS up to `seq`. */
async function raiserPast(seq: number): Promise<void> {
  await waitFor(async () => {
    const info = await fx.jsm.consumers.info('EVENTS', 'exception-raiser');
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  }, 10_000);
}

/** The HOLD inputs ever appended to the phase's inbox. */
async function holdInputs(): Promise<string[]> {
  return (await fx.subjectMessages('INBOX', subjects.inbox('phase', PHASE)))
    .map((m) => (m.data as InputEnvelope).event)
    .filter((e) => e.type === 'HOLD').map((e) => String(e.reason));
}

/** Lets the shortened duplicate window pass, so a republished message is stored again. */
const pastWindow = () => new Promise((r) => setTimeout(r, (WINDOW_NS / 1e6) * 1.5));

beforeAll(async () => {
  for (const name of ['INBOX', 'EVENTS']) await fx.jsm.streams.update(name, { duplicate_window: WINDOW_NS });
});

describe('the exception raiser across restarts (DESIGN.md principle 15)', () => {
  let r: Running;

  it('raises one exception and one hold; after signing and a restart, the activation arriving again re-raises and re-holds nothing', async () => {
    r = await start();
    await send(r, 'unit', 'R201', { type: 'ASSERT_CONTEXT', contextId: 'R201/B1/1', batchId: 'B1', specVersion: '1', seq: 1 });
    await waitFor(() => phaseCtx(r).permissives.contextId === 'R201/B1/1');
    expect((await send(r, 'phase', PHASE, { type: 'START' })).state).toBe('Running');

    const first = activation(7);
    await raiserPast(await publishActivation(first, 'alarm.R201.TT01.HI:7:0'));
    expect(r.host.list('exception').map((e) => [e.id, String(e.snapshot.value)])).toEqual([[`EXC-${ALARM}-7`, 'Open']]);
    expect(phaseState(r)).toBe('Holding');
    expect(lines.filter((l) => l.msg === 'critical alarm: exception raised')).toHaveLength(1);
    expect(lines.find((l) => l.msg === `critical alarm: hold of ${PHASE} requested`)?.obj).toMatchObject({ outcome: 'accepted', phaseState: 'Holding' });

    const exc = `EXC-${ALARM}-7`;
    await send(r, 'phase', PHASE, { type: 'STATE_COMPLETE' });
    await send(r, 'exception', exc, { type: 'ACKNOWLEDGE' });
    await send(r, 'exception', exc, { type: 'INVESTIGATE', cause: 'drift', action: 'recalibrated' });
    const signedAt = Date.now();
    await send(r, 'exception', exc, {
      type: 'SIGN', signatures: [
        { username: 'op', meaning: 'performed', signedAt, roles: ['operator'] },
        { username: 'sup', meaning: 'reviewed', signedAt, roles: ['supervisor'] },
      ],
    });
    await waitFor(() => phaseCtx(r).permissives.unsignedCriticalExceptions.length === 0);
    await send(r, 'phase', PHASE, { type: 'RESTART' });
    expect((await send(r, 'phase', PHASE, { type: 'STATE_COMPLETE' })).state).toBe('Running');
    expect(await holdInputs()).toHaveLength(1);

    await stop(r);
    await pastWindow();
    lines.length = 0;
    r = await start();
    await raiserPast(await publishActivation(first, `replayed-${Date.now()}`));
    expect(phaseState(r)).toBe('Running');
    expect(r.host.list('exception').map((e) => [e.id, String(e.snapshot.value)])).toEqual([[exc, 'Signed']]);
    expect(await holdInputs()).toHaveLength(1);
    // The copy, and the original too when its acknowledgement had not reached the server before the stop.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines) {
      expect(l.msg).toBe('critical alarm seen again: exception exists, nothing re-raised or re-held');
      expect(l.obj).toMatchObject({ exception: exc, status: 'Signed', hold: 'signed' });
    }
  }, 60_000);

  it('holds a running phase whose unsigned exception exists but whose hold was never issued (a crash in between)', async () => {
    const exc = `EXC-${ALARM}-30`;
    const openedAt = Date.now();
    // What the raiser writes first, as if the process died right after it.
    await r.host.send('exception', exc, {
      type: 'CREATE', at: openedAt, by: `alarm:${ALARM}`,
      input: {
        id: exc, kind: 'alarm', critical: true, source: `alarm:${ALARM}`, phase: PHASE, openedAt, openedBy: `alarm:${ALARM}`,
        description: `${ALARM} active`, secondSignerRoles: ['supervisor'], closeRoles: ['qa'],
      },
    }, { timeoutMs: 5_000 });
    expect(phaseState(r)).toBe('Running');
    lines.length = 0;
    await raiserPast(await publishActivation(activation(30), 'alarm.R201.TT01.HI:30:0'));
    expect(phaseState(r)).toBe('Holding');
    expect(await holdInputs()).toHaveLength(2);
    expect(lines.map((l) => l.msg), JSON.stringify(lines)).toEqual([`critical alarm: hold of ${PHASE} requested`]);
    expect(r.host.list('exception')).toHaveLength(2);
  }, 30_000);

  it('does not hold again a phase already held for an unsigned exception, after a restart and past the window', async () => {
    await send(r, 'phase', PHASE, { type: 'STATE_COMPLETE' });
    expect(phaseState(r)).toBe('Held');
    const stored = await fx.jsm.direct.getMessage('EVENTS', { last_by_subj: subjects.event('alarm', ALARM) });
    await stop(r);
    await pastWindow();
    lines.length = 0;
    r = await start();
    await raiserPast(await publishActivation(stored!.data, `replayed-${Date.now()}`));
    expect(phaseState(r)).toBe('Held');
    expect(await holdInputs()).toHaveLength(2);
    expect(r.host.list('exception')).toHaveLength(2);
    const again = lines.filter((l) => l.obj.exception === `EXC-${ALARM}-30`);
    expect(again.length).toBeGreaterThanOrEqual(1);
    expect(lines.map((l) => l.msg).filter((m) => m !== 'critical alarm seen again: exception exists, nothing re-raised or re-held')).toEqual([]);
    for (const l of again) expect(l.obj).toMatchObject({ status: 'Open', hold: 'already_held', phaseState: 'Held' });
    await stop(r);
  }, 30_000);

  it('skips and counts an alarm event that does not match the transition schema, raising and holding nothing', async () => {
    r = await start();
    try {
      lines.length = 0;
      const skipped = fx.metrics.get('phaseline_exception_raiser_skipped_total', { reason: 'invalid' });
      await raiserPast(await publishActivation(encode({ actor: ALARM, from: 'Normal', to: 'Unacknowledged' }), `invalid-${Date.now()}`));
      expect(fx.metrics.get('phaseline_exception_raiser_skipped_total', { reason: 'invalid' })).toBe(skipped + 1);
      expect(lines.map((l) => [l.level, l.msg])).toEqual([['error', 'alarm transition event does not match its schema: skipped']]);
      expect(r.host.list('exception')).toHaveLength(2);
      expect(await holdInputs()).toHaveLength(2);
    } finally {
      await stop(r);
    }
  }, 30_000);
});
