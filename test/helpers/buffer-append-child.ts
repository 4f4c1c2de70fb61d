/**
 * Child process for the buffer's kill -9 test: appends records to a DiskBuffer as fast as it can (64 in flight) and
 * prints `<i> <rid>` on stdout once each append has resolved (i.e. is durable). The parent SIGKILLs it mid-stream.
 */
import { DiskBuffer } from '../../src/edge/buffer/disk-buffer.ts';

const dir = process.argv[2]!;
const buffer = await DiskBuffer.open({ dir, segmentBytes: 64 * 1024, maxBytes: 64 * 2 ** 20, fsyncEveryRecords: 16, fsyncEveryMs: 2 });
let i = 0;
const one = async (): Promise<void> => {
  const n = i++;
  const rid = await buffer.append(Buffer.from(`p-${n}-${'x'.repeat(n % 300)}`));
  process.stdout.write(`${n} ${rid}\n`);
};
const lane = async () => {
  for (;;) await one();
};
process.stdout.write('ready\n');
await Promise.all(Array.from({ length: 64 }, lane));
