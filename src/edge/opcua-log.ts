import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';
import { logger } from '../log.ts';

let routed = false;

/**
 * node-opcua's load-time self-test (node-opcua-secure-channel `verify_pcks1.js`) warns `[NODE-OPCUA-W27] … use node
 * flag --security-revert=CVE-2023-46809` on Node 20, where RSA PKCS#1 v1.5 *decryption* is refused (the Marvin timing
 * attack). Only the deprecated Basic128Rsa15 policy decrypts with PKCS#1 v1.5; the policies config/plant.schema.ts
 * allows (None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss) encrypt with RSA-OAEP and use PKCS#1 v1.5
 * only to sign, which the fix leaves alone. The revert flag would only reopen the attack, so the notice is dropped.
 */
const isPkcs1v15Notice = (text: string) => /NODE-OPCUA-W27|security-revert=CVE-2023-46809/.test(text);

/**
 * Routes node-opcua's own warnings and errors into pino (stderr): node-opcua prints them with `console.log`, and
 * stdout must carry only the ready line and the demo credentials (CONTRACT.md §1). Idempotent.
 */
export function routeOpcuaLogs(): void {
  if (routed) return;
  routed = true;
  const log = logger('node-opcua');
  const ctxOf = (ctx: unknown) => (ctx as { filename?: string } | undefined)?.filename;
  setWarningLogger((ctx?: unknown, ...args: unknown[]) => {
    const text = format(...args);
    if (!isPkcs1v15Notice(text)) log.warn({ at: ctxOf(ctx) }, text);
  });
  setErrorLogger((ctx?: unknown, ...args: unknown[]) => log.error({ at: ctxOf(ctx) }, format(...args)));
}
