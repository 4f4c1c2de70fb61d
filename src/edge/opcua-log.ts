import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';
import { logger } from '../log.ts';

let routed = false;

/**
 * Routes node-opcua's own warnings and errors into pino (stderr): node-opcua prints them with `console.log`, and
 * stdout must carry only the ready line and the demo credentials (CONTRACT.md §1). Idempotent.
 */
export function routeOpcuaLogs(): void {
  if (routed) return;
  routed = true;
  const log = logger('node-opcua');
  const ctxOf = (ctx: unknown) => (ctx as { filename?: string } | undefined)?.filename;
  setWarningLogger((ctx?: unknown, ...args: unknown[]) => log.warn({ at: ctxOf(ctx) }, format(...args)));
  setErrorLogger((ctx?: unknown, ...args: unknown[]) => log.error({ at: ctxOf(ctx) }, format(...args)));
}
