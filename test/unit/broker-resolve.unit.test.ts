import { describe, expect, it } from 'vitest';
import { natsConnectionOptions } from '../../src/broker/connect.ts';
import { isSupportedNatsVersion, parseNatsVersion } from '../../src/broker/resolve.ts';

describe('parseNatsVersion', () => {
  it('reads the version printed by nats-server --version', () => {
    expect(parseNatsVersion('nats-server: v2.10.27\n')).toEqual([2, 10, 27]);
    expect(parseNatsVersion('nats-server: v2.9.10')).toEqual([2, 9, 10]);
    expect(parseNatsVersion('nats-server: v2.11.0-RC.2')).toEqual([2, 11, 0]);
  });

  it('reads a bare version and returns null for output without one', () => {
    expect(parseNatsVersion('v2.12.1')).toEqual([2, 12, 1]);
    expect(parseNatsVersion('command not found')).toBeNull();
    expect(parseNatsVersion('')).toBeNull();
  });
});

describe('isSupportedNatsVersion', () => {
  it('accepts 2.10 and newer, which know sync_interval: always', () => {
    expect(isSupportedNatsVersion([2, 10, 0])).toBe(true);
    expect(isSupportedNatsVersion([2, 10, 27])).toBe(true);
    expect(isSupportedNatsVersion([2, 12, 1])).toBe(true);
    expect(isSupportedNatsVersion([3, 0, 0])).toBe(true);
  });

  it('rejects 2.9.10 (Debian bookworm) and older, comparing numerically, not as text', () => {
    expect(isSupportedNatsVersion([2, 9, 10])).toBe(false);
    expect(isSupportedNatsVersion([2, 9, 99])).toBe(false);
    expect(isSupportedNatsVersion([1, 99, 0])).toBe(false);
  });
});

describe('natsConnectionOptions', () => {
  it('reconnects forever every 500 ms and drops async traces only for high-rate connections', () => {
    const o = natsConnectionOptions('nats://127.0.0.1:4222', { name: 'x' });
    expect(o).toMatchObject({ maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: false, name: 'x' });
    expect(o.user).toBeUndefined();
    const h = natsConnectionOptions('nats://127.0.0.1:4222', { name: 'x', highRate: true, user: 'u', pass: 'p' });
    expect(h).toMatchObject({ noAsyncTraces: true, user: 'u', pass: 'p' });
  });
});
