import { describe, expect, it } from 'vitest';
import { runningMessage } from '../../src/instance-lock.ts';

describe('runningMessage (a second instance on the same state directory)', () => {
  it('names the running instance by pid, HTTP and NATS address in one line, and says what to do', () => {
    const text = runningMessage('/srv/var', {
      pid: 4242, role: 'runtime', httpUrl: 'http://127.0.0.1:8080', natsUrl: 'nats://127.0.0.1:4222', startedAt: '2026-12-08T01:00:00.000Z',
    });
    expect(text).toBe(
      'another Phaseline instance already runs on the state directory /srv/var (pid 4242, http http://127.0.0.1:8080, ' +
        'nats nats://127.0.0.1:4222, started 2026-12-08T01:00:00.000Z); stop it first, or set another PHASELINE_VAR',
    );
    expect(text).not.toContain('\n');
  });

  it('says when the holder is still starting, is the foreground broker, or could not be asked', () => {
    expect(runningMessage('/v', { pid: 1, role: 'runtime' })).toContain('pid 1, http not listening yet');
    expect(runningMessage('/v', { pid: 2, role: 'nats-server', natsUrl: 'nats://127.0.0.1:1' })).toMatch(/^the foreground broker .*pid 2, http none, nats nats:/);
    expect(runningMessage('/v', null)).toContain('pid unknown');
  });
});
