import { describe, expect, it } from 'vitest';
import type { ActorRecord } from '../../actors/apply.ts';
import type { InputOutcome } from '../../actors/envelope.ts';
import { PhaselineError } from '../../src/errors.ts';
import { command, type ActorPort } from '../../src/http/routes/actor-port.ts';

/** An in-memory port: one phase actor in the reader, and a `send` the test decides. */
function port(send: () => Promise<InputOutcome | undefined>): ActorPort {
  const record = { id: 'R201.HEAT', snapshot: { value: 'Idle', context: {} } } as unknown as ActorRecord;
  const known = (type: string, id: string) => type === 'phase' && id === 'R201.HEAT';
  return {
    send, nc: undefined as never, timeoutMs: 50, clock: () => 1_000,
    reader: {
      record: async (type, id) => (known(type, id) ? record : undefined),
      view: async (type, id) => (known(type, id) ? { id, state: 'Idle' } : undefined),
      list: async () => ({ views: [] }),
    },
  };
}

const start = { type: 'START', at: 1, by: 'op' };
const failure = async (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as PhaselineError);

describe('HTTP → actor port', () => {
  it('answers 404 not_found for an actor that does not exist, without sending anything', async () => {
    let sent = false;
    const e = await failure(command(port(async () => { sent = true; return undefined; }), 'phase', 'NOPE', start));
    expect([e.status, e.httpCode]).toEqual([404, 'not_found']);
    expect(sent).toBe(false);
  });

  it('answers 503 nats_unavailable when the bus does not accept the input', async () => {
    const e = await failure(command(port(async () => { throw new Error('connection closed'); }), 'phase', 'R201.HEAT', start));
    expect([e.status, e.httpCode]).toEqual([503, 'nats_unavailable']);
    expect(e.message).toMatch(/connection closed/);
  });

  it('answers 503 timeout when the actor does not answer in time', async () => {
    const e = await failure(command(port(async () => undefined), 'phase', 'R201.HEAT', start));
    expect([e.status, e.httpCode]).toEqual([503, 'timeout']);
  });

  it('maps machine rejections to their registered answers, keeping the details', async () => {
    const reject = (rejection: InputOutcome['rejection']) =>
      port(async () => ({ actor: 'R201.HEAT', seq: 7, accepted: false, state: 'Idle', from: 'Idle', rejection }));
    const notAllowed = await failure(command(reject({ code: 'command_not_allowed', message: 'no', state: 'Idle', allowed: ['start'] }), 'phase', 'R201.HEAT', start));
    expect([notAllowed.status, notAllowed.httpCode, notAllowed.details]).toEqual([409, 'command_not_allowed', { state: 'Idle', allowed: ['start'] }]);
    const permissive = await failure(command(reject({ code: 'permissive_failed', message: 'no', reasons: ['no context'] }), 'phase', 'R201.HEAT', start));
    expect([permissive.status, permissive.httpCode]).toEqual([412, 'permissive_failed']);
    // A shell bug (no user on a request, an event the machine does not know) is a 500 with the machine's code logged.
    const internal = await failure(command(reject({ code: 'unknown_event', message: 'no' }), 'phase', 'R201.HEAT', start));
    expect([internal.status, internal.code, internal.details]).toEqual([500, 'ERR_MACHINE_INTERNAL', { machine: 'phase', machineCode: 'unknown_event' }]);
    const unregistered = await failure(command(reject({ code: 'something_new', message: 'no' }), 'phase', 'R201.HEAT', start));
    expect([unregistered.status, unregistered.details.machineCode]).toEqual([500, 'something_new']);
  });

  it('returns the outcome of an accepted input', async () => {
    const ok = await command(port(async () => ({ actor: 'R201.HEAT', seq: 8, accepted: true, state: 'Running', from: 'Idle' })), 'phase', 'R201.HEAT', start);
    expect(ok.state).toBe('Running');
  });
});
