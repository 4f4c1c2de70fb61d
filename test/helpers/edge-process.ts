import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childControls } from './child.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A standalone edge (`src/edge/main.ts`) running as a child process. */
export interface EdgeProcess {
  proc: ChildProcess;
  /** Resolves at the ready line: collecting into the disk buffer (NATS reachable or not). */
  ready: Promise<void>;
  /** Resolves at the `phaseline-edge attached` line: the NATS side is up (publishing, context, commands). */
  attached: Promise<void>;
  stderr(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no flush, no goodbye. */
  kill(): Promise<void>;
}

/** Starts the edge for source `sim` against `natsUrl` and `endpoint`, state under `varDir`, ground truth in `truthFile`. */
export function startEdgeProcess(o: { natsUrl: string; endpoint: string; varDir: string; truthFile: string }): EdgeProcess {
  const args = ['--import', 'tsx', join(ROOT, 'src/edge/main.ts'), '--endpoint', o.endpoint, '--nats', o.natsUrl];
  args.push('--var', o.varDir, '--ground-truth', o.truthFile, '--config', join(ROOT, 'config'));
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PHASELINE_LOG_LEVEL: process.env.EDGE_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => {
    err = (err + d).slice(-20_000);
    if (process.env.EDGE_LOG_LEVEL) process.stderr.write(d);
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  const line = (what: string) => {
    const p = new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', () => out.includes(`phaseline-edge ${what}`) && resolve());
      void exited.then((code) => reject(new Error(`edge exited (${code}) before ${what}; stderr:\n${err}`)));
    });
    p.catch(() => undefined);
    return p;
  };
  const ready = line('ready');
  const attached = line('attached');
  return {
    proc,
    ready,
    attached,
    stderr: () => err,
    ...childControls(proc, exited),
  };
}

/** One line of the edge's ground truth: a telemetry message that was durable in its buffer. */
export interface TruthLine {
  epoch: string;
  seq: number;
  samples: { tag: string; v: number | boolean | string; q: string; ts: number }[];
}

/** Reads the ground truth file (a last line cut by SIGKILL is ignored). */
export async function readTruth(file: string): Promise<TruthLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: TruthLine[] = [];
  for (const line of text.split('\n')) {
    try {
      if (line) out.push(JSON.parse(line) as TruthLine);
    } catch {
      // torn last line
    }
  }
  return out;
}
