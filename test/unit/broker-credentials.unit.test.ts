import { describe, expect, it } from 'vitest';
import { authorizationConf, brokerUsers, edgeInboxPrefix, edgePermissions } from '../../src/broker/credentials.ts';

describe('edge permissions', () => {
  it('encode a source id with dots and wildcards into single subject tokens, never widening the grant', () => {
    const p = edgePermissions('line.3 *', ['R.1']);
    expect(p.publish).toContain('tlm.line=2E3=20=2A');
    expect(p.publish).toContain('$JS.API.DIRECT.GET.CONTEXT.ctx.R=2E1');
    expect(p.publish).toContain('$JS.API.CONSUMER.CREATE.COMMANDS.edge-cmd-line=2E3=20=2A.cmd.line=2E3=20=2A');
    expect(p.subscribe).toEqual(['_INBOX.edge.line=2E3=20=2A.>', 'cmd.line=2E3=20=2A', 'ctx.R=2E1']);
    expect(edgeInboxPrefix('line.3 *')).toBe('_INBOX.edge.line=2E3=20=2A');
    for (const s of [...p.publish, ...p.subscribe]) expect(s.split('.').filter((t) => t === '>').length, s).toBeLessThanOrEqual(1);
  });

  it('give the runtime every right and each configured source only its own units', () => {
    const users = [
      { user: 'rt', password: 'a', role: 'runtime' as const },
      { user: 'edge-sim', password: 'b', role: 'edge' as const, source: 'sim' },
      { user: 'edge-old', password: 'c', role: 'edge' as const, source: 'removed' },
    ];
    const conf = brokerUsers(users, { sources: [{ id: 'sim' }], units: [{ id: 'R101', source: 'sim' }, { id: 'R201', source: 'line2' }] } as never);
    expect(conf.map((u) => u.user)).toEqual(['rt', 'edge-sim']); // a source no longer configured has no user
    expect(conf[0]!.permissions).toBeUndefined();
    expect(conf[1]!.permissions!.subscribe).toEqual(['_INBOX.edge.sim.>', 'cmd.sim', 'ctx.R101']);
    const text = authorizationConf(conf);
    expect(text).toContain('{ user: "rt", password: "a" }');
    expect(text).toContain('"$JS.API.DIRECT.GET.CONTEXT.ctx.R101"');
    expect(text).toContain('"dlq.mqtt.sim.>"');
    // no consumer on CONTEXT at all: a pull grant would match the runtime's own durables too
    expect(text).not.toMatch(/CONSUMER\.[A-Z.]*CONTEXT/);
    expect(text).not.toContain('R201');
  });
});
