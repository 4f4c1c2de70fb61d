import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkLayers, plainErrors } from '../helpers/layers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/layers', import.meta.url));

describe('layers (DESIGN.md layout table, principles 1, 7, 13)', () => {
  it('holds on the tree: machines/, actors/, nats/ and config/ import only what the table allows', () => {
    expect(checkLayers(ROOT)).toEqual([]);
  });

  it('finds every kind of violation in a fixture tree that breaks the rules on purpose', () => {
    const found = checkLayers(FIXTURE).map((v) => `${v.file}:${v.line} ${v.what}`);
    expect(found.sort()).toEqual([
      'actors/transport.ts:2 imports @nats-io/transport-node',
      'actors/transport.ts:3 imports ../src/log.ts',
      'actors/transport.ts:5 uses Date.now',
      'config/shell.ts:2 imports ../src/errors.ts',
      'machines/clock.machine.ts:2 imports node:fs',
      'machines/clock.machine.ts:3 imports ../actors/host.ts',
      'machines/clock.machine.ts:5 uses Date.now',
    ]);
  });

  it('raises no plain Error outside tests: every error has a registry code', () => {
    expect(plainErrors(ROOT).map((v) => `${v.file}:${v.line}`)).toEqual([]);
    expect(plainErrors(FIXTURE).map((v) => `${v.file}:${v.line}`)).toEqual(['src/plain-error.ts:2']);
  });
});
