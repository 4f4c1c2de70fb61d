import { describe, expect, it } from '../helpers/bdd.ts';
import { isoTime, isoTimes } from '../../actors/iso-time.ts';

// One representation of time in answers: ISO 8601 UTC with milliseconds (21 CFR 11.50(a)(2), ALCOA+ "contemporaneous").

describe('view times', () => {
  it('shows an instant as ISO 8601 UTC with milliseconds', () => {
    expect(isoTime(Date.UTC(2026, 11, 8, 1, 2, 3, 4))).toBe('2026-12-08T01:02:03.004Z');
    expect(isoTime(undefined)).toBeUndefined();
  });

  it('converts every instant field at any depth and leaves durations, counts and strings alone', () => {
    const t = Date.UTC(2026, 0, 1);
    const view = isoTimes({
      openedAt: t, activeSince: t + 1, cleanUntil: '2026-01-01T00:00:00.000Z', clockOffsetMs: 12, seq: 7,
      acknowledged: { at: t + 2, by: 'op' }, signatures: [{ signedAt: t + 3, roles: ['qa'] }], timers: { cleanHold: t },
      pendingCommand: { command: 'hold', at: t + 4 }, lastSeen: null, notAnInstant: { at: 'later' },
    });
    expect(view).toEqual({
      openedAt: '2026-01-01T00:00:00.000Z', activeSince: '2026-01-01T00:00:00.001Z', cleanUntil: '2026-01-01T00:00:00.000Z',
      clockOffsetMs: 12, seq: 7, acknowledged: { at: '2026-01-01T00:00:00.002Z', by: 'op' },
      signatures: [{ signedAt: '2026-01-01T00:00:00.003Z', roles: ['qa'] }], timers: { cleanHold: t },
      pendingCommand: { command: 'hold', at: '2026-01-01T00:00:00.004Z' }, lastSeen: null, notAnInstant: { at: 'later' },
    });
  });
});
