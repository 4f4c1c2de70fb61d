import { listPki, rejectPki, trustPki, type PkiEntry } from './opcua-pki-admin.ts';
import { pkiDir, type PkiSide } from './opcua-pki.ts';

export const PKI_USAGE = `  pki list [--store client|server]                 the trusted and rejected OPC UA peer certificates
  pki trust <file|thumbprint> [--store client|server]   trust a certificate (moves it out of rejected/)
  pki reject <file|thumbprint> [--store client|server]  stop trusting a certificate (moves it to rejected/)
    --store client (default): the edge collector's store, PHASELINE_VAR/pki/client; server: the simulator's
`;

const line = (e: PkiEntry) => `${e.list.padEnd(8)} ${e.thumbprint}  ${e.subject}${e.applicationUri ? `  ${e.applicationUri}` : ''}  until ${e.notAfter}\n`;

/**
 * `phaseline pki …`: operator trust decisions on an OPC UA certificate store (IEC 62541-12 §7.3, trust list
 * management) instead of trust on first use. Returns the exit code; output goes to `out`.
 */
export async function runPkiCommand(args: string[], varDir: string, out: (s: string) => void): Promise<number> {
  const rest = [...args];
  let side: PkiSide = 'client';
  const at = rest.indexOf('--store');
  if (at >= 0) {
    const v = rest[at + 1];
    if (v !== 'client' && v !== 'server') return usage(out);
    side = v;
    rest.splice(at, 2);
  }
  const [cmd, ref, ...extra] = rest;
  const dir = pkiDir(varDir, side);
  if (cmd === 'list' && ref === undefined) {
    const entries = await listPki(dir);
    if (entries.length === 0) out(`no peer certificates in ${dir}\n`);
    for (const e of entries) out(line(e));
    return 0;
  }
  if ((cmd === 'trust' || cmd === 'reject') && ref && extra.length === 0) {
    const e = cmd === 'trust' ? await trustPki(dir, ref) : await rejectPki(dir, ref);
    out(line(e));
    return 0;
  }
  return usage(out);
}

function usage(out: (s: string) => void): number {
  out(`usage: phaseline pki <command>\n${PKI_USAGE}`);
  return 2;
}
