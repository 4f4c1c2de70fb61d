import type { Logger } from '../log.ts';

/** One stop stack for the composition root: every step pushes its stop, and they run in reverse order, each once. */
export class StopStack {
  readonly #stops: { name: string; stop: () => Promise<unknown> | unknown }[] = [];
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  push(name: string, stop: () => Promise<unknown> | unknown): void {
    this.#stops.push({ name, stop });
  }

  /** Stops everything pushed so far, last first; a failed step is logged and the rest still stop. */
  async stopAll(): Promise<void> {
    for (const { name, stop } of this.#stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        this.#log.warn({ step: name, err: String(err) }, 'shutdown step failed');
      }
    }
  }
}
