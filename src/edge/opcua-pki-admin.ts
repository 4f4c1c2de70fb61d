import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { exploreCertificate, makeSHA1Thumbprint, readCertificate, type Certificate } from 'node-opcua-crypto';
import { PkiNotFoundError } from '../errors.ts';
import { openCertificateStore } from './opcua-pki.ts';

/** One peer certificate in a store's trust list or rejected list. */
export interface PkiEntry {
  list: 'trusted' | 'rejected';
  file: string;
  thumbprint: string;
  subject: string;
  applicationUri?: string;
  notAfter: string;
}

const folders = (dir: string) => ({ trusted: join(dir, 'trusted', 'certs'), rejected: join(dir, 'rejected') });

function describe(list: PkiEntry['list'], file: string): PkiEntry | undefined {
  try {
    const der = readCertificate(file);
    const info = exploreCertificate(der);
    const subject = Object.entries(info.tbsCertificate.subject)
      .filter(([, v]) => typeof v === 'string')
      .map(([k, v]) => `${k}=${v as string}`)
      .join(', ');
    const applicationUri = info.tbsCertificate.extensions?.subjectAltName?.uniformResourceIdentifier?.[0];
    return { list, file, thumbprint: makeSHA1Thumbprint(der).toString('hex'), subject, applicationUri, notAfter: info.tbsCertificate.validity.notAfter.toISOString() };
  } catch {
    return undefined; // not a certificate (e.g. a CRL or a stray file): not listed
  }
}

/** Lists the trusted and rejected peer certificates of a store (IEC 62541-12 §7.3 trust list management). */
export async function listPki(dir: string): Promise<PkiEntry[]> {
  const out: PkiEntry[] = [];
  for (const [list, folder] of Object.entries(folders(dir)) as [PkiEntry['list'], string][]) {
    const names = existsSync(folder) ? await readdir(folder) : [];
    for (const n of names.filter((x) => /\.(pem|der)$/i.test(x)).sort()) {
      const e = describe(list, join(folder, n));
      if (e) out.push(e);
    }
  }
  return out;
}

/** Finds a certificate by thumbprint (either list) or reads it from a file path. */
async function find(dir: string, ref: string): Promise<{ der: Certificate; entry?: PkiEntry }> {
  const t = ref.toLowerCase().replace(/:/g, '');
  const entry = (await listPki(dir)).find((e) => e.thumbprint === t || resolve(e.file) === resolve(ref));
  if (entry) return { der: readCertificate(entry.file), entry };
  if (existsSync(ref)) return { der: readCertificate(ref) };
  throw new PkiNotFoundError(ref, dir);
}

/**
 * Trusts a peer certificate (a file, or the thumbprint of one in `rejected/`): it moves to `trusted/certs`, and the
 * next connection attempt accepts it. The operator's explicit decision replaces trust on first use.
 */
export async function trustPki(dir: string, ref: string): Promise<PkiEntry> {
  const { der, entry } = await find(dir, ref);
  const cm = await openCertificateStore(dir);
  try {
    await cm.trustCertificate(der);
  } finally {
    await cm.dispose();
  }
  if (entry?.list === 'rejected') await rm(entry.file, { force: true });
  const thumbprint = makeSHA1Thumbprint(der).toString('hex');
  return (await listPki(dir)).find((e) => e.thumbprint === thumbprint && e.list === 'trusted')!;
}

/** Revokes trust in a peer certificate: it moves to `rejected/`, and the next connection to that peer is refused. */
export async function rejectPki(dir: string, ref: string): Promise<PkiEntry> {
  const { der, entry } = await find(dir, ref);
  const cm = await openCertificateStore(dir);
  try {
    await cm.rejectCertificate(der);
  } finally {
    await cm.dispose();
  }
  if (entry?.list === 'trusted') await rm(entry.file, { force: true });
  const thumbprint = makeSHA1Thumbprint(der).toString('hex');
  return (await listPki(dir)).find((e) => e.thumbprint === thumbprint && e.list === 'rejected')!;
}
