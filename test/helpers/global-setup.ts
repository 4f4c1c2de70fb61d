import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { readEnv } from '../../config/env.ts';
import { natsServerVersion, resolveNatsServer } from '../../src/broker/resolve.ts';
import { stopStrayNatsServers } from '../../src/broker/server.ts';
import { logger } from '../../src/log.ts';

const log = logger('test-setup');
const REPO_VAR_DIR = fileURLToPath(new URL('../../var', import.meta.url));

/**
 * Vitest global setup: resolves (and if needed fetches) nats-server once before the workers start — the same
 * resolution as the runtime's, so the suite runs on the broker a user gets (>= 2.11) — and reaps strays after.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = await resolveNatsServer({ bin: readEnv().natsServerBin, varDir: REPO_VAR_DIR, log });
  log.info({ bin, version: await natsServerVersion(bin) }, 'the tests run on this nats-server');
  const root = await mkdtemp(join(tmpdir(), 'phaseline-test-'));
  project.provide('phaselineTestRoot', root);
  return async () => {
    // Servers of killed or timed-out workers are detached and would outlive the run.
    for (const d of await readdir(root).catch(() => [])) await stopStrayNatsServers(join(root, d, 'run'), log);
    await rm(root, { recursive: true, force: true });
  };
}
