import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Segment file name for the segment whose first record id is `firstRid` (sortable by name). */
export function segmentName(firstRid: number): string {
  return `seg-${String(firstRid).padStart(16, '0')}.log`;
}

/** The first record id encoded in a segment file name, or undefined for other files. */
export function parseSegmentName(name: string): number | undefined {
  const m = /^seg-(\d{16})\.log$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Writes a small file atomically and durably: temp file, fsync, rename, fsync of the directory. */
export async function writeDurable(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(dirname(file));
}

/** fsyncs a directory so that created, renamed or deleted entries survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Path of the durable "acknowledged through" marker in a buffer directory. */
export const markerFile = (dir: string) => join(dir, 'acked.json');
