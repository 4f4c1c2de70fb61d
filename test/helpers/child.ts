import type { ChildProcess } from 'node:child_process';

/** `stop()` (SIGTERM, resolves with the exit code) and `kill()` (SIGKILL: no flush, no goodbye) of a child process. */
export function childControls(proc: ChildProcess, exited: Promise<number | null>) {
  return {
    async stop(): Promise<number | null> {
      proc.kill('SIGTERM');
      return exited;
    },
    async kill(): Promise<void> {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
