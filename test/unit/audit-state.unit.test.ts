import { describe, expect, it } from 'vitest';
import { encode } from '../../nats/codec.ts';
import { AppliedIds, parseOutboxId } from '../../nats/applied-ids.ts';
import { parseRequest } from '../../src/records/audit-state.ts';

describe('applied message ids (outbox ids of a producer, and any other id)', () => {
  it('treats an outbox id below the producer\'s highest seq, or applied at it, as applied', () => {
    const d = new AppliedIds();
    d.add('phase.R101=2EHEAT:41:1');
    expect(d.has('phase.R101=2EHEAT:41:1')).toBe(true);
    expect(d.has('phase.R101=2EHEAT:12:3')).toBe(true);
    expect(d.has('phase.R101=2EHEAT:42:0')).toBe(false);
    expect(d.has('phase.R201=2EHEAT:1:0')).toBe(false);
  });

  it('applies an effect of the top seq that lands after a later one of the same seq (a retried publish)', () => {
    const d = new AppliedIds();
    d.add('a:7:4');
    expect(d.has('a:7:3')).toBe(false);
    d.add('a:7:3');
    expect(d.has('a:7:3')).toBe(true);
    expect(d.toJSON().producers).toEqual([['a', 7, [3, 4]]]);
  });

  it('never moves a producer backwards', () => {
    const d = new AppliedIds();
    d.add('a:10:0');
    d.add('a:3:0');
    expect(d.has('a:9:5')).toBe(true);
    expect(d.toJSON().producers).toEqual([['a', 10, [0]]]);
  });

  it('keeps other ids in a bounded set, least recently applied out first', () => {
    const d = new AppliedIds(undefined, { producers: 2, recent: 2 });
    d.add('timer.unit.R101.clean.1');
    d.add('timer.unit.R101.clean.2');
    d.add('timer.unit.R101.clean.1'); // refreshed, so .2 is the oldest
    d.add('timer.unit.R101.clean.3');
    expect(d.has('timer.unit.R101.clean.1')).toBe(true);
    expect(d.has('timer.unit.R101.clean.2')).toBe(false);
    expect(d.has('timer.unit.R101.clean.3')).toBe(true);
  });

  it('survives a round trip through its serialised form', () => {
    const d = new AppliedIds();
    d.add('x:1:2');
    d.add('uuid-1');
    const again = new AppliedIds(d.toJSON());
    expect(again.has('x:1:2')).toBe(true);
    expect(again.has('uuid-1')).toBe(true);
  });

  it('parses only ids ending in two decimal positions as outbox ids', () => {
    expect(parseOutboxId('phase.R101=2EHEAT:5:0')).toEqual({ producer: 'phase.R101=2EHEAT', seq: 5, n: 0 });
    expect(parseOutboxId('alm:line2:e1:17:2')).toEqual({ producer: 'alm:line2:e1', seq: 17, n: 2 });
    expect(parseOutboxId('cmdres:line2:abc')).toBeUndefined();
    expect(parseOutboxId('http:Xk3')).toBeUndefined();
  });
});

describe('audit request validation', () => {
  it('accepts a well-formed request', () => {
    const r = parseRequest(encode({ at: 1, who: 'qa', action: 'batch.release', target: 'B1', reason: 'ok' }));
    expect(r.ok).toBe(true);
  });

  it('rejects bytes that are not MessagePack as malformed', () => {
    expect(parseRequest(new Uint8Array([0x85, 0xa1]))).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('rejects a map missing who as invalid and names the field', () => {
    const r = parseRequest(encode({ at: 1, action: 'a', target: 't' }));
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
    expect(!r.ok && r.detail).toMatch(/who/);
  });

  it('rejects unknown fields rather than dropping them silently', () => {
    expect(parseRequest(encode({ at: 1, who: 'u', action: 'a', target: 't', extra: 1 }))).toMatchObject({ ok: false });
  });

  it('rejects the reserved audit. action prefix so nobody can inject a checkpoint', () => {
    const r = parseRequest(encode({ at: 1, who: 'u', action: 'audit.checkpoint', target: 'audit' }));
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('rejects a JSON document sent instead of MessagePack', () => {
    expect(parseRequest(new TextEncoder().encode('{"at":1}'))).toMatchObject({ ok: false });
  });
});
