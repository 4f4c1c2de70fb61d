import { describe, expect, it } from 'vitest';
import { admitWrite } from '../../src/edge/command-executor.ts';

describe('guarded writes: rate limit per tag (a runaway caller cannot hammer the PLC)', () => {
  it('admits up to the limit within a minute, refuses the next, and admits again once the window has moved on', () => {
    const recent = new Map<string, number[]>();
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect(admitWrite(recent, 'R101.HEAT.CMD', 3, t0 + i * 1000)).toBe(true);
    expect(admitWrite(recent, 'R101.HEAT.CMD', 3, t0 + 5000)).toBe(false);
    expect(admitWrite(recent, 'R101.CHARGE.CMD', 3, t0 + 5000)).toBe(true); // per tag
    expect(admitWrite(recent, 'R101.HEAT.CMD', 3, t0 + 59_999)).toBe(false);
    expect(admitWrite(recent, 'R101.HEAT.CMD', 3, t0 + 60_001)).toBe(true); // the first write left the window
    // refused attempts are not counted against the caller
    expect(recent.get('R101.HEAT.CMD')).toEqual([t0 + 1000, t0 + 2000, t0 + 60_001]);
  });
});
