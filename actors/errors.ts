/**
 * The actor host's own errors (actors/ imports nothing of the shell): each with a stable `code` that src/errors.ts
 * registers with the rest of the vocabulary.
 */
export class ActorError extends Error {
  readonly code: 'ERR_ACTOR_MACHINE_FAILED' | 'ERR_ACTOR_LEASE_ABORTED';
  constructor(code: ActorError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActorError';
    this.code = code;
  }
}
