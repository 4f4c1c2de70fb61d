import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditRequest } from '../../actors/envelope.ts';
import { decode, encode } from '../../nats/codec.ts';
import {
  ChainVerifier,
  DISPOSITION_ACTION,
  GENESIS_HASH,
  chainEntry,
  checkpointEntry,
  entryHash,
  verifyChain,
  type AuditEntry,
} from '../../src/records/audit-chain.ts';
import { keyIdOf } from '../../src/records/audit-key.ts';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  return { keyId, privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const key = keyPair();
const keys = { [key.keyId]: key.pem };

function request(i: number): AuditRequest {
  return {
    at: 1_700_000_000_000 + i,
    who: 'operator',
    action: 'phase.command',
    target: `R101.HEAT`,
    reason: i % 2 ? 'because' : undefined,
    before: { state: 'Idle', n: i },
    after: { state: 'Running', n: i, nested: { z: 1, a: [1, 2, { y: true, b: null }] } },
    ref: `inbox:${i}`,
  };
}

/** n request entries with a checkpoint after every `every` of them. */
function chain(n: number, every = 0): AuditEntry[] {
  const out: AuditEntry[] = [];
  let head: AuditEntry | null = null;
  for (let i = 1; i <= n; i++) {
    head = chainEntry(head, request(i), 1_800_000_000_000 + i, { inboxSeq: i * 3, msgId: `phase:R101.HEAT:${i}:0` });
    out.push(head);
    if (every && i % every === 0) out.push((head = checkpointEntry(head, key, 1_800_000_000_000 + i)));
  }
  return out;
}

/** Re-hashes one entry after an edit, as a forger who knows the scheme would. */
function rehash(e: AuditEntry): AuditEntry {
  return { ...e, hash: entryHash(e) };
}

describe('audit chain', () => {
  it('starts at seq 1 on the genesis hash and links each entry to the previous hash', () => {
    const [a, b] = chain(2);
    expect(a!.seq).toBe(1);
    expect(a!.prevHash).toBe(GENESIS_HASH);
    expect(b!.seq).toBe(2);
    expect(b!.prevHash).toBe(a!.hash);
    expect(a!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a!.src).toEqual({ inboxSeq: 3, msgId: 'phase:R101.HEAT:1:0' });
  });

  it('omits absent optional fields instead of storing undefined', () => {
    const e = chainEntry(null, { at: 1, who: 'u', action: 'a', target: 't' }, 2);
    expect(Object.keys(e).sort()).toEqual(['action', 'at', 'hash', 'prevHash', 'recordedAt', 'seq', 'target', 'who']);
  });

  it('hashes canonical JSON, so key order does not change the hash', () => {
    const e = chain(1)[0]!;
    const reordered = Object.fromEntries(Object.entries(e).reverse()) as AuditEntry;
    reordered.after = { nested: { a: [1, 2, { b: null, y: true }], z: 1 }, n: 1, state: 'Running' };
    expect(entryHash(reordered)).toBe(e.hash);
  });

  it('gives the same hash after a MessagePack round trip, dates and odd numbers included', () => {
    const e = chainEntry(null, { at: 1.5, who: 'u', action: 'a', target: 't', after: { d: new Date(0), x: -0 } }, 2);
    const back = decode(encode(e)) as AuditEntry;
    expect(entryHash(back)).toBe(e.hash);
  });

  it('verifies an untouched chain with checkpoints and reports how far it is signed', () => {
    const entries = chain(25, 10);
    expect(verifyChain(entries, keys)).toEqual({ ok: true, checked: 27, signedUpTo: 21 });
  });

  it('detects a changed field', () => {
    const entries = chain(10);
    entries[4] = { ...entries[4]!, who: 'someone-else' };
    const result = verifyChain(entries, keys);
    expect(result).toMatchObject({ ok: false, checked: 4, firstBad: { seq: 5, reason: 'hash_mismatch' } });
  });

  it('detects a changed field even when the forger re-hashes the entry', () => {
    const entries = chain(10);
    entries[4] = rehash({ ...entries[4]!, after: { state: 'Complete' } });
    expect(verifyChain(entries, keys).firstBad).toEqual({ seq: 6, reason: 'prev_hash_mismatch' });
  });

  it('detects a removed entry', () => {
    const entries = chain(10);
    entries.splice(3, 1);
    expect(verifyChain(entries, keys).firstBad).toEqual({ seq: 5, reason: 'seq_gap' });
  });

  it('detects reordered entries', () => {
    const entries = chain(10);
    [entries[6], entries[7]] = [entries[7]!, entries[6]!];
    expect(verifyChain(entries, keys).firstBad).toEqual({ seq: 8, reason: 'seq_gap' });
  });

  it('detects a removed entry through the signed checkpoint even when the forger re-chains what follows', () => {
    const entries = chain(10, 5);
    entries.splice(3, 1);
    const forged: AuditEntry[] = [];
    let head: AuditEntry | null = null;
    for (const e of entries) {
      head = rehash({ ...e, seq: (head?.seq ?? 0) + 1, prevHash: head?.hash ?? GENESIS_HASH });
      forged.push(head);
    }
    expect(verifyChain(forged.slice(0, 4), keys).ok).toBe(true); // without a checkpoint the rewrite is invisible
    expect(verifyChain(forged, keys).firstBad).toEqual({ seq: 5, reason: 'checkpoint_mismatch' });
  });

  it('rejects a checkpoint with a bad signature', () => {
    const entries = chain(10, 5);
    const cp = entries[5]!;
    const other = keyPair();
    const impostor = { keyId: key.keyId, privateKey: other.privateKey };
    entries[5] = checkpointEntry({ seq: 5, hash: entries[4]!.hash }, impostor, cp.recordedAt);
    expect(verifyChain(entries, keys).firstBad).toEqual({ seq: 6, reason: 'bad_signature' });
  });

  it('rejects a checkpoint signed by a key it does not know', () => {
    const other = keyPair();
    const entries = chain(3);
    entries.push(checkpointEntry(entries[2]!, other, 5));
    expect(verifyChain(entries, keys).firstBad).toEqual({ seq: 4, reason: 'unknown_key' });
    expect(verifyChain(entries, { ...keys, [other.keyId]: other.publicKey }).ok).toBe(true);
  });

  it('rejects a validly signed checkpoint moved onto other content', () => {
    const a = chain(3, 3);
    const b = chain(3).map((e) => e);
    b[2] = chainEntry(b[1]!, { ...request(3), who: 'mallory' }, b[2]!.recordedAt, b[2]!.src);
    const moved = rehash({ ...a[3]!, prevHash: b[2]!.hash });
    expect(verifyChain([...b, moved], keys).firstBad).toEqual({ seq: 4, reason: 'checkpoint_mismatch' });
  });

  it('reports anything that is not an entry as malformed at the expected seq', () => {
    const entries: unknown[] = chain(2);
    entries.push({ hello: 'world' });
    const result = verifyChain(entries, keys);
    expect(result).toMatchObject({ ok: false, checked: 2, firstBad: { seq: 3, reason: 'malformed' } });
  });

  it('verifies a window of the chain from an anchor', () => {
    const entries = chain(20, 5);
    const v = new ChainVerifier(keys, { seq: entries[9]!.seq, hash: entries[9]!.hash });
    for (const e of entries.slice(10)) expect(v.push(e)).toBe(true);
    expect(v.result().ok).toBe(true);
  });
});

describe('requests recorded more than once (21 CFR 11.10(e): each action once)', () => {
  const inc = '6f1c2d3e-0000-4000-8000-000000000001';
  function trail(ids: string[], extra: AuditRequest[] = []): AuditEntry[] {
    const out: AuditEntry[] = [];
    ids.forEach((msgId, i) => out.push(chainEntry(out.at(-1) ?? null, request(i), 1_800_000_000_000 + i, { inboxSeq: i + 1, msgId, incarnation: inc })));
    for (const r of extra) out.push(chainEntry(out.at(-1) ?? null, r, 1_800_000_000_999));
    return out;
  }

  it('fails verification and names both entries of a request chained twice', () => {
    const result = verifyChain(trail(['phase.R101:1:0', 'phase.R101:2:0', 'phase.R101:1:0']), keys);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toBeUndefined(); // the chain itself is intact
    expect(result.checked).toBe(3);
    expect(result.duplicates).toEqual([{ seq: 3, firstSeq: 1, requestId: 'phase.R101:1:0', action: 'phase.command', target: 'R101.HEAT' }]);
  });

  it('counts an entry written before incarnations existed as the same request as a later copy', () => {
    const legacy = chainEntry(null, request(0), 1, { inboxSeq: 1, msgId: 'a:1:0' });
    const copy = chainEntry(legacy, request(0), 2, { inboxSeq: 9, msgId: 'a:1:0', incarnation: inc });
    expect(verifyChain([legacy, copy], keys).duplicates?.map((d) => [d.seq, d.firstSeq])).toEqual([[2, 1]]);
  });

  it('passes once QA dispositioned every copy, and reports them as dispositioned', () => {
    const disposition: AuditRequest = {
      at: 5, who: 'qa', action: DISPOSITION_ACTION, target: 'audit', reason: 'restart defect before 0.2: copies of seq 1',
      after: { seqs: [3], signature: { printedName: 'QA', username: 'qa', meaning: 'dispositioned' } },
    };
    const result = verifyChain(trail(['a:1:0', 'a:2:0', 'a:1:0'], [disposition]), keys);
    expect(result.ok).toBe(true);
    expect(result.duplicates).toEqual([expect.objectContaining({ seq: 3, firstSeq: 1, dispositionedBy: 4 })]);
  });

  it('still fails when a disposition names other entries than the copies', () => {
    const disposition: AuditRequest = { at: 5, who: 'qa', action: DISPOSITION_ACTION, target: 'audit', after: { seqs: [2] } };
    expect(verifyChain(trail(['a:1:0', 'a:2:0', 'a:1:0'], [disposition]), keys).ok).toBe(false);
  });

  it('keeps ids of different INBOX incarnations apart (a really recreated stream restarts producer sequences)', () => {
    const first = chainEntry(null, request(0), 1, { inboxSeq: 1, msgId: 'a:1:0', incarnation: inc });
    const next = chainEntry(first, request(1), 2, { inboxSeq: 1, msgId: 'a:1:0', incarnation: 'another' });
    expect(verifyChain([first, next], keys)).toMatchObject({ ok: true, checked: 2 });
  });
});
