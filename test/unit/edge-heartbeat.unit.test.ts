import { describe, expect, it } from 'vitest';
import { OverflowFlag } from '../../src/edge/heartbeat.ts';

describe('edge heartbeat: a buffer overflow is reported, never silent', () => {
  it('marks the source degraded with the overflow (dropped records summed) until 15 minutes after the last one', () => {
    const flag = new OverflowFlag();
    expect(flag.apply({ collector: 'ok' })).toEqual({ collector: 'ok' });
    flag.onOverflow({ policy: 'drop-oldest-with-alarm', droppedRecords: 3 });
    flag.onOverflow({ policy: 'drop-oldest-with-alarm', droppedRecords: 2 });
    const state = flag.apply({ collector: 'ok', extra: { opcuaGap: { from: 1, to: 2 } } });
    expect(state).toMatchObject({ collector: 'degraded', extra: { opcuaGap: { from: 1, to: 2 }, bufferOverflow: { policy: 'drop-oldest-with-alarm', droppedRecords: 5 } } });
    expect(flag.apply({ collector: 'down' }).collector).toBe('down');
    const at = flag.recent()!.at;
    expect(flag.recent(at + 15 * 60_000 - 1)).toBeDefined();
    expect(flag.recent(at + 15 * 60_000)).toBeUndefined();
  });
});
