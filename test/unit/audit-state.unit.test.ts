import { describe, expect, it } from 'vitest';
import { encode } from '../../nats/codec.ts';
import { ProducerDedupe, parseRequest } from '../../src/records/audit-state.ts';

describe('producer id dedupe', () => {
  it('treats an outbox id at or below the highest applied position of its producer as applied', () => {
    const d = new ProducerDedupe();
    d.record('phase:R101.HEAT:41:1');
    expect(d.seen('phase:R101.HEAT:41:1')).toBe(true);
    expect(d.seen('phase:R101.HEAT:41:0')).toBe(true);
    expect(d.seen('phase:R101.HEAT:12:3')).toBe(true);
    expect(d.seen('phase:R101.HEAT:41:2')).toBe(false);
    expect(d.seen('phase:R101.HEAT:42:0')).toBe(false);
    expect(d.seen('phase:R201.HEAT:1:0')).toBe(false);
  });

  it('never moves a producer backwards', () => {
    const d = new ProducerDedupe();
    d.record('a:10:0');
    d.record('a:3:0');
    expect(d.seen('a:9:5')).toBe(true);
    expect(d.toJSON().producers).toEqual([['a', 10, 0]]);
  });

  it('keeps other ids in a bounded LRU set', () => {
    const d = new ProducerDedupe(undefined, { producers: 2, recent: 2 });
    d.record('login-1');
    d.record('login-2');
    d.record('login-1'); // refreshed, so login-2 is the oldest
    d.record('login-3');
    expect(d.seen('login-1')).toBe(true);
    expect(d.seen('login-2')).toBe(false);
    expect(d.seen('login-3')).toBe(true);
  });

  it('stays well below the 1 MiB NATS payload limit when full, so the position record can always be written', () => {
    const d = new ProducerDedupe();
    for (let i = 0; i < 10_000; i++) {
      d.record(`phase:${'R'.repeat(40)}.${i}:${i * 1000}:3`);
      d.record(`login:${crypto.randomUUID()}`);
    }
    expect(encode(d.toJSON()).byteLength).toBeLessThan(512 * 1024);
  });

  it('survives a round trip through its serialised form', () => {
    const d = new ProducerDedupe();
    d.record('x:1:2');
    d.record('uuid-1');
    const again = new ProducerDedupe(d.toJSON());
    expect(again.seen('x:1:2')).toBe(true);
    expect(again.seen('uuid-1')).toBe(true);
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
