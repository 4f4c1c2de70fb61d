/**
 * The simulated PLC's own ISA-88 phase logic (IEC 61512-1 procedural state model, STANDARDS.md §1.3), written
 * independently of `machines/` on purpose: the PLC is a separate system whose reports the runtime follows.
 */

/** ISA-88 base-model state names as the PLC reports them on its state tag. */
export const PLC_STATES = [
  'Idle',
  'Running',
  'Complete',
  'Pausing',
  'Paused',
  'Holding',
  'Held',
  'Restarting',
  'Stopping',
  'Stopped',
  'Aborting',
  'Aborted',
] as const;
export type PlcState = (typeof PLC_STATES)[number];

/** The eight ISA-88 commands as written to a command register (upper case, as in `config/commands.json`). */
export const PLC_COMMANDS = ['START', 'STOP', 'HOLD', 'RESTART', 'ABORT', 'RESET', 'PAUSE', 'RESUME'] as const;
export type PlcCommand = (typeof PLC_COMMANDS)[number];

const TABLE: Record<PlcState, Partial<Record<PlcCommand, PlcState>>> = {
  Idle: { START: 'Running' },
  Running: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting', PAUSE: 'Pausing' },
  Complete: { RESET: 'Idle' },
  Pausing: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting' },
  Paused: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting', RESUME: 'Running' },
  Holding: { STOP: 'Stopping', ABORT: 'Aborting' },
  Held: { STOP: 'Stopping', RESTART: 'Restarting', ABORT: 'Aborting' },
  Restarting: { STOP: 'Stopping', HOLD: 'Holding', ABORT: 'Aborting' },
  Stopping: { ABORT: 'Aborting' },
  Stopped: { ABORT: 'Aborting', RESET: 'Idle' },
  Aborting: {},
  Aborted: { RESET: 'Idle' },
};

/** Where each acting state goes when its own logic finishes ("SC", state complete). */
const COMPLETES_TO: Partial<Record<PlcState, PlcState>> = {
  Running: 'Complete',
  Pausing: 'Paused',
  Holding: 'Held',
  Restarting: 'Running',
  Stopping: 'Stopped',
  Aborting: 'Aborted',
};

/** Normalises a register value to a command name, or undefined when it is not one (case and spaces ignored). */
export function parseCommand(raw: unknown): PlcCommand | undefined {
  if (typeof raw !== 'string') return undefined;
  const c = raw.trim().toUpperCase();
  return (PLC_COMMANDS as readonly string[]).includes(c) ? (c as PlcCommand) : undefined;
}

/** The state a command leads to from `state`, or undefined when ISA-88 does not allow it there. */
export function nextState(state: PlcState, command: PlcCommand): PlcState | undefined {
  return TABLE[state][command];
}

/** The state an acting state moves to on state-complete, or undefined for wait / final states. */
export function completionOf(state: PlcState): PlcState | undefined {
  return COMPLETES_TO[state];
}

/** One phase as the PLC runs it: its state and the deadline at which the current acting state completes. */
export class PlcPhase {
  state: PlcState = 'Idle';
  #deadline: number | undefined;
  #runRemainingMs: number | undefined;

  constructor(
    readonly id: string,
    private readonly timing: { runningMs: number; transientMs: number },
  ) {}

  /** Applies a command at `now`; returns false (state unchanged) when ISA-88 does not allow it. */
  command(command: PlcCommand, now: number): boolean {
    const to = nextState(this.state, command);
    if (!to) return false;
    this.#enter(to, now);
    return true;
  }

  /** Completes the acting state when its deadline has passed; returns true when the state changed. */
  tick(now: number): boolean {
    const to = completionOf(this.state);
    if (!to || this.#deadline === undefined || now < this.#deadline) return false;
    if (this.state === 'Running') this.#runRemainingMs = undefined;
    this.#enter(to, now);
    return true;
  }

  #enter(to: PlcState, now: number): void {
    // Running keeps its remaining time across pause / hold so a resumed phase does not start over.
    if (this.state === 'Running' && this.#deadline !== undefined)
      this.#runRemainingMs = Math.max(0, this.#deadline - now);
    if (to === 'Idle') this.#runRemainingMs = undefined;
    this.state = to;
    if (to === 'Running') this.#deadline = now + (this.#runRemainingMs || this.timing.runningMs);
    else this.#deadline = completionOf(to) ? now + this.timing.transientMs : undefined;
  }
}
