import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/errors.ts';
import { REJECTION_CODES, REJECTIONS, classify, rejectionError, type ActorType } from '../../src/rejections.ts';

const CONTRACT = fileURLToPath(new URL('../../../shared/CONTRACT.md', import.meta.url));

/** The HTTP-visible codes of the registry, pinned: adding or renaming one is a contract change, made here on purpose. */
const HTTP_CODES = [
  'actor_quarantined', 'addendum_text_required', 'already_acknowledged', 'already_closed', 'already_exists',
  'already_out_of_service', 'already_shelved', 'already_signed', 'already_sterile', 'attribution_required',
  'automatic_phase', 'batch_mismatch', 'batch_not_released', 'cause_and_action_required', 'cause_not_active',
  'cleaning_in_progress', 'command_not_allowed', 'command_not_allowlisted', 'context_mismatch', 'deviation_required',
  'forbidden', 'forbidden_close', 'idempotency_key_reused', 'in_use', 'interlock_active', 'interlocked',
  'internal_error', 'invalid_cause', 'invalid_context', 'invalid_credentials', 'invalid_mode', 'invalid_request',
  'invalid_sequence', 'invalid_shelve_expiry', 'invalid_signature', 'line_clearance_batch_mismatch',
  'line_clearance_required', 'manual_phase', 'nats_unavailable', 'no_context', 'not_a_duplicate', 'not_acknowledged',
  'not_acquired', 'not_allocated', 'not_clean', 'not_cleaning', 'not_dirty', 'not_found', 'not_in_maintenance',
  'not_interlocked', 'not_investigated', 'not_out_of_service', 'not_ready', 'not_shelved', 'not_signed', 'not_sterile',
  'not_sterilising', 'not_transient', 'nothing_to_disposition', 'open_items', 'out_of_service', 'payload_too_large',
  'permissive_failed', 'phase_required', 'rate_limited', 'reason_required', 'request_in_progress', 'same_person',
  'second_signer_not_permitted', 'second_signer_required', 'shelved', 'signature_mismatch', 'signature_required',
  'signed_content_locked', 'stale_sequence', 'state_changed', 'suppressed_by_design', 'timeout', 'unauthenticated',
  'unit_in_use', 'unit_out_of_service', 'unsupported_media_type',
];

describe('the error registry (one vocabulary: src/errors.ts, src/rejections.ts)', () => {
  it('classifies every rejection code of every actor type: a registered 4xx, or internal (500, never part of the contract)', () => {
    for (const [type, codes] of Object.entries(REJECTION_CODES) as [ActorType, readonly string[]][]) {
      expect(new Set(Object.keys(REJECTIONS[type])), type).toEqual(new Set(codes));
      for (const code of codes) {
        const cls = classify(type, code);
        const err = rejectionError(type, { code, message: 'refused' });
        if (cls === 'internal') {
          expect([err.status, err.code, err.details.machineCode], `${type}/${code}`).toEqual([500, 'ERR_MACHINE_INTERNAL', code]);
        } else if (code === 'actor_quarantined') {
          expect(err.status).toBe(503); // the actor waits for a migration: the server's state, not the client's error
        } else {
          expect(err.status, `${type}/${code}`).toBeGreaterThanOrEqual(400);
          expect(err.status, `${type}/${code}`).toBeLessThan(500);
          expect(err.httpCode, `${type}/${code}`).not.toBe('rejected');
        }
      }
    }
  });

  it('keeps the machine\'s own name for a client error wherever one fits (a code is not renamed on its way out)', () => {
    const renamed: string[] = [];
    for (const [type, table] of Object.entries(REJECTIONS)) {
      for (const [code, cls] of Object.entries(table as Record<string, string>)) {
        if (cls !== 'internal' && ERRORS[cls as ErrorCode].http !== code) renamed.push(`${type}/${code} → ${ERRORS[cls as ErrorCode].http}`);
      }
    }
    expect(renamed.sort()).toEqual([
      'batch/exceptions_open → open_items', // CONTRACT.md §2 release: 409 open_items
      'batch/not_allowed → command_not_allowed', // CONTRACT.md §2 batch commands: 409 command_not_allowed
      'phase/plc_not_configured → command_not_allowlisted',
    ]);
  });

  it('pins the HTTP-visible codes', () => {
    const codes = [...new Set(Object.values(ERRORS).map((e) => e.http))].sort();
    expect(codes).toEqual(HTTP_CODES);
  });

  it.skipIf(!existsSync(CONTRACT))('answers every code CONTRACT.md names with the status it names (where the feature is built)', () => {
    const named = [...readFileSync(CONTRACT, 'utf8').matchAll(/(\d{3}) `([a-z_]+)`/g)].map((m) => [Number(m[1]), m[2]!] as const);
    expect(named.length).toBeGreaterThan(10);
    const notYet = new Set(['password_change_required', 'account_locked', 'record_changed', 'unknown_recipe', 'unknown_spec_version']);
    for (const [status, code] of named) {
      if (notYet.has(code)) continue;
      const entries = Object.values(ERRORS).filter((e) => e.http === code);
      expect(entries.length, code).toBeGreaterThan(0);
      for (const e of entries) expect(e.status, code).toBe(status);
    }
  });
});

describe('the error handler', () => {
  it('answers a rate limit with 429 rate_limited and Retry-After in whole seconds', async () => {
    const { errorHandler } = await import('../../src/http/error-handler.ts');
    const { PhaselineError } = await import('../../src/errors.ts');
    const sent: { status?: number; headers: Record<string, string>; body?: unknown } = { headers: {} };
    const reply = {
      header(k: string, v: string) { sent.headers[k] = v; return reply; },
      code(c: number) { sent.status = c; return reply; },
      send(b: unknown) { sent.body = b; return reply; },
    };
    const request = { log: { info() {}, error() {} } };
    errorHandler(new PhaselineError('ERR_RATE_LIMITED', 'too many attempts', { retryAfterSeconds: 2.2 }) as never, request as never, reply as never);
    expect(sent).toMatchObject({ status: 429, headers: { 'retry-after': '3' }, body: { error: 'rate_limited' } });
  });
});
