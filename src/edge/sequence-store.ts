import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeId } from '../../nats/ids.ts';
import { logger, type Logger } from '../log.ts';

/** What `<varDir>/edge/<src>/sequence.json` holds. */
export interface SequenceState {
  epoch: string;
  lastSeq: number;
}

/**
 * The edge's durable `(epoch, seq)` counter (CONTRACT.md §5.1): each number is persisted (temp file + fsync + rename)
 * before it is handed out, so a restart never reuses one; a missing or corrupt store mints a new epoch at seq 1.
 */
export class SequenceStore {
  #state: SequenceState;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly file: string,
    state: SequenceState,
  ) {
    this.#state = state;
  }

  /** Opens the store of a source under `varDir`, minting (and persisting) a new epoch when needed. */
  static async open(
    varDir: string,
    sourceId: string,
    log: Logger = logger('edge.sequence-store'),
  ): Promise<SequenceStore> {
    const dir = join(varDir, 'edge', encodeId(sourceId));
    const file = join(dir, 'sequence.json');
    await mkdir(dir, { recursive: true });
    let state: SequenceState | undefined;
    try {
      state = parse(await readFile(file, 'utf8'));
      if (!state) log.warn({ file }, 'sequence store is corrupt: minting a new epoch');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      log.info({ file }, 'no sequence store yet: minting a new epoch');
    }
    const store = new SequenceStore(file, state ?? { epoch: mintEpoch(), lastSeq: 0 });
    if (!state) await writeAtomic(file, store.#state);
    log.info({ file, ...store.#state }, 'sequence store open');
    return store;
  }

  get epoch(): string {
    return this.#state.epoch;
  }

  get lastSeq(): number {
    return this.#state.lastSeq;
  }

  /** Reserves the next sequence number; resolves once it is durably recorded. Calls are serialised. */
  next(): Promise<number> {
    const run = this.#chain.then(async () => {
      const seq = this.#state.lastSeq + 1;
      await writeAtomic(this.file, { epoch: this.#state.epoch, lastSeq: seq });
      this.#state = { epoch: this.#state.epoch, lastSeq: seq };
      return seq;
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }
}

/** A new epoch: sortable by creation time, with a random suffix so two stores never collide. */
export function mintEpoch(now = Date.now()): string {
  return `${now.toString(36)}-${randomBytes(6).toString('hex')}`;
}

function parse(text: string): SequenceState | undefined {
  try {
    const v = JSON.parse(text) as Partial<SequenceState>;
    const ok =
      typeof v.epoch === 'string' && v.epoch.length > 0 && Number.isSafeInteger(v.lastSeq) && (v.lastSeq as number) >= 0;
    return ok ? { epoch: v.epoch!, lastSeq: v.lastSeq! } : undefined;
  } catch {
    return undefined;
  }
}

async function writeAtomic(file: string, state: SequenceState): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  // fsync the directory so the rename itself survives a power cut.
  const dir = await open(join(file, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
