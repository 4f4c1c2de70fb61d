import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { encodeId } from '../../nats/ids.ts';
import type { Logger } from '../log.ts';

/** How far collection got: the latest source time handed over durably per tag, and when that was recorded. */
export interface OpcuaPosition {
  at: number;
  last: Record<string, number>;
}

/**
 * Keeps the collector's position in `<varDir>/edge/<src>/opcua-position.json`, so that after a collector restart the
 * time it was away is a gap to backfill with HistoryRead (IEC 62541-11) instead of data silently never collected.
 * Written after the samples are durable in the edge buffer; a crash in between can only re-read, never skip.
 */
export class PositionFile {
  readonly #file: string;
  readonly #log: Logger;
  readonly #last = new Map<string, number>();
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();

  constructor(varDir: string, src: string, log: Logger) {
    this.#file = join(varDir, 'edge', encodeId(src), 'opcua-position.json');
    this.#log = log;
  }

  /** The recorded position, or undefined on a first start (or an unreadable file, which is logged). */
  async load(): Promise<OpcuaPosition | undefined> {
    try {
      const p = JSON.parse(await readFile(this.#file, 'utf8')) as OpcuaPosition;
      if (typeof p?.at !== 'number' || typeof p.last !== 'object' || p.last === null) throw new TypeError('bad shape');
      for (const [tag, ts] of Object.entries(p.last)) if (typeof ts === 'number') this.#last.set(tag, ts);
      return { at: p.at, last: Object.fromEntries(this.#last) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ file: this.#file, err: String(err) }, 'OPC UA position unreadable: no backfill of the time before this start');
      return undefined;
    }
  }

  /** Notes samples that are now durable; the file follows (one write at a time, the latest state wins). */
  note(samples: readonly { tag: string; ts: number }[]): void {
    for (const s of samples) if (s.ts > (this.#last.get(s.tag) ?? -Infinity)) this.#last.set(s.tag, s.ts);
    this.#dirty = true;
    this.#writing = this.#writing.then(() => this.#flush());
  }

  /** Waits for pending writes (on stop). */
  async close(): Promise<void> {
    this.#dirty = true;
    this.#writing = this.#writing.then(() => this.#flush());
    await this.#writing;
  }

  async #flush(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const body = JSON.stringify({ at: Date.now(), last: Object.fromEntries(this.#last) } satisfies OpcuaPosition);
    try {
      await mkdir(dirname(this.#file), { recursive: true });
      await writeFile(`${this.#file}.tmp`, body);
      await rename(`${this.#file}.tmp`, this.#file);
    } catch (err) {
      this.#log.warn({ file: this.#file, err: String(err) }, 'OPC UA position not written');
    }
  }
}
