import { describe, expect, it } from 'vitest';
import { natsConnectionOptions } from '../../src/broker/connect.ts';
import { DEBIAN_SOURCE, debianArch } from '../../src/broker/fetch-debian.ts';
import { fetchedVersions, isSupportedNatsVersion, parseNatsVersion } from '../../src/broker/resolve.ts';
import { MIN_NATS_VERSION, oldBrokerWarning } from '../../src/broker/version.ts';

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
  it('accepts 2.11 and newer (per-key TTL, a stream creation time that stays put across restarts)', () => {
    expect(MIN_NATS_VERSION).toEqual([2, 11, 0]);
    expect(isSupportedNatsVersion([2, 11, 0])).toBe(true);
    expect(isSupportedNatsVersion([2, 12, 1])).toBe(true);
    expect(isSupportedNatsVersion([2, 15, 1])).toBe(true);
    expect(isSupportedNatsVersion([3, 0, 0])).toBe(true);
  });

  it('rejects 2.10.27 (Debian trixie, whose stream created time moves), 2.9.10 (bookworm) and older, numerically', () => {
    expect(isSupportedNatsVersion([2, 10, 27])).toBe(false);
    expect(isSupportedNatsVersion([2, 10, 99])).toBe(false);
    expect(isSupportedNatsVersion([2, 9, 10])).toBe(false);
    expect(isSupportedNatsVersion([1, 99, 0])).toBe(false);
  });
});

describe('the fetched nats-server', () => {
  it('follows the Debian testing suite forky, verified by apt against the archive keyring, not a pinned file', () => {
    expect(DEBIAN_SOURCE).toMatchObject({ suite: 'forky', keyring: '/usr/share/keyrings/debian-archive-keyring.gpg', package: 'nats-server' });
    expect(DEBIAN_SOURCE).not.toHaveProperty('sha256');
  });

  it('is looked up newest first among nats-server-<version> directories, numerically, ignoring anything else', () => {
    expect(fetchedVersions(['nats-server-2.10.27', 'nats-server-2.15.1', '.fetch.lock', 'nats-server-2.9.10', 'nats-server-2.15.10', 'x']))
      .toEqual(['2.15.10', '2.15.1', '2.10.27', '2.9.10']);
    expect(fetchedVersions([])).toEqual([]);
  });

  it('is fetched for the Debian architecture of this process, and not where Debian has none', () => {
    expect(debianArch('x64')).toBe('amd64');
    expect(debianArch('arm64')).toBe('arm64');
    expect(debianArch('ia32')).toBeNull();
  });
});

describe('oldBrokerWarning (NATS_URL)', () => {
  it('names the external server and its version when it is older than 2.11', () => {
    const text = oldBrokerWarning('2.10.27', 'nats://broker:4222');
    expect(text).toMatch(/nats:\/\/broker:4222 is nats-server 2\.10\.27, older than 2\.11/);
    expect(text).toMatch(/upgrade/);
  });

  it('says nothing for 2.11 or newer, or when the server did not tell its version', () => {
    expect(oldBrokerWarning('2.11.0', 'nats://b:4222')).toBeNull();
    expect(oldBrokerWarning('2.15.1', 'nats://b:4222')).toBeNull();
    expect(oldBrokerWarning(undefined, 'nats://b:4222')).toBeNull();
    expect(oldBrokerWarning('garbage', 'nats://b:4222')).toBeNull();
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
