/** Longest delay setTimeout accepts; longer deadlines are re-armed in steps. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Arms one wall-clock timer per absolute deadline in an actor's context (DESIGN.md principle 7): when a deadline falls
 * due — at once if it is already past, e.g. on rehydrate — `fire(name, deadline)` appends a TIMER input.
 */
export class DeadlineTimers {
  readonly #armed = new Map<string, { deadline: number; handle: ReturnType<typeof setTimeout> }>();
  readonly #fire: (actorKey: string, name: string, deadline: number) => void;
  readonly #now: () => number;

  constructor(fire: (actorKey: string, name: string, deadline: number) => void, now: () => number) {
    this.#fire = fire;
    this.#now = now;
  }

  /** Makes the armed timers of `actorKey` match `deadlines` exactly. */
  sync(actorKey: string, deadlines: Record<string, number> | undefined): void {
    const wanted = deadlines ?? {};
    for (const [k, t] of this.#armed) {
      if (!k.startsWith(actorKey + '\u0000')) continue;
      const name = k.slice(actorKey.length + 1);
      if (wanted[name] !== t.deadline) {
        clearTimeout(t.handle);
        this.#armed.delete(k);
      }
    }
    for (const [name, deadline] of Object.entries(wanted)) {
      const k = actorKey + '\u0000' + name;
      if (typeof deadline === 'number' && !this.#armed.has(k)) this.#arm(k, actorKey, name, deadline);
    }
  }

  clear(): void {
    for (const t of this.#armed.values()) clearTimeout(t.handle);
    this.#armed.clear();
  }

  #arm(k: string, actorKey: string, name: string, deadline: number): void {
    const delay = Math.max(0, Math.min(MAX_DELAY, deadline - this.#now()));
    const handle = setTimeout(() => {
      if (this.#now() < deadline) return this.#arm(k, actorKey, name, deadline);
      this.#armed.delete(k);
      this.#fire(actorKey, name, deadline);
    }, delay);
    handle.unref?.();
    this.#armed.set(k, { deadline, handle });
  }
}
