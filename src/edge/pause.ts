/** Resolves after `ms`, or at once when `signal` aborts (so a retry loop never holds up a stop). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    // The listener goes when the timer fires: a long retry loop must not pile listeners up on one signal.
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
