import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEnv } from '../../config/env.ts';
import { resolveNatsServer } from '../../src/broker/resolve.ts';
import { startNatsServer, type NatsServerHandle, type StartNatsOptions } from '../../src/broker/server.ts';
import { logger } from '../../src/log.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The per-run temp dir the global setup made; its teardown stops any server left in it. */
    phaselineTestRoot: string;
  }
}

/** The repository's state dir, where the fetched nats-server lives (shared by every test worker). */
export const REPO_VAR_DIR = fileURLToPath(new URL('../../var', import.meta.url));

const log = logger('test-nats');
// Under Deno (`npm run test:deno`) vitest is never loaded: there is no global setup, temp dirs go under tmpdir().
const vitest = 'Deno' in globalThis ? undefined : await import('vitest');
let binary: Promise<string> | undefined;
const live = new Set<number>();

// A worker that exits without its afterAll (a crash, a timeout) must not leave detached servers behind.
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** The nats-server binary for tests, resolved once per worker (the global setup has fetched it already if needed). */
export function testNatsServerBin(): Promise<string> {
  return (binary ??= resolveNatsServer({ bin: readEnv().natsServerBin, varDir: REPO_VAR_DIR, log }));
}

function testRoot(): string {
  try {
    return vitest?.inject('phaselineTestRoot') ?? tmpdir();
  } catch {
    return tmpdir(); // outside a vitest run (benchmarks, scripts)
  }
}

/** A private nats-server for one test file. */
export interface TestNats {
  /** `nats://127.0.0.1:<port>`; stays the same across `restart()`. */
  url: string;
  /** The temp dir holding `store/` (JetStream) and `run/` (conf, pidfile, ports, log). */
  dir: string;
  /** Stops the server gracefully and removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILLs the server (a crash: no flush, no goodbye). */
  kill(): void;
  /** Stops the server if it is running and starts it again on the same port and store. */
  restart(): Promise<void>;
}

/**
 * Starts a private nats-server (JetStream, `sync_interval: always`, port chosen by the server) in a temp dir; without
 * authentication and TLS unless the test opts in with `secure` (users with permissions, a certificate and key).
 */
export async function startTestNats(secure: Pick<StartNatsOptions, 'users' | 'tls'> = {}): Promise<TestNats> {
  const bin = await testNatsServerBin();
  const dir = await mkdtemp(join(testRoot(), 'phaseline-nats-'));
  const base = { bin, storeDir: join(dir, 'store'), runDir: join(dir, 'run'), log, ...secure };
  let server: NatsServerHandle = await startNatsServer(base);
  live.add(server.pid);
  const port = Number(new URL(server.url).port);
  const stopServer = async () => {
    await server.stop(); // after kill() this only waits for the exit and cleans up
    live.delete(server.pid);
  };
  return {
    url: server.url,
    dir,
    async stop() {
      await stopServer();
      await rm(dir, { recursive: true, force: true });
    },
    kill() {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
    async restart() {
      await stopServer();
      server = await startNatsServer({ ...base, port });
      live.add(server.pid);
    },
  };
}

/** A client connection with its JetStream handles, as the integration tests use them. */
export interface TestConn {
  nc: import('@nats-io/transport-node').NatsConnection;
  js: import('@nats-io/jetstream').JetStreamClient;
  jsm: import('@nats-io/jetstream').JetStreamManager;
}

/** Connects a client (no async traces, like the product's high-rate connections) and records it for cleanup. */
export async function connectTest(url: string, track: TestConn['nc'][]): Promise<TestConn> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url, noAsyncTraces: true });
  track.push(nc);
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}
