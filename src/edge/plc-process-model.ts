/**
 * A first-order process model of one simulated reactor unit: level rises while CHARGE runs, temperature approaches
 * ~80 °C while HEAT runs and cools towards ambient otherwise, pressure follows temperature, the agitator runs with HEAT.
 */

/** Process values of one unit. */
export interface UnitProcess {
  level: number;
  temperature: number;
  pressure: number;
  agitator: boolean;
}

/** What the phases of the unit are doing, as far as the process cares. */
export interface PhaseActivity {
  charging: boolean;
  heating: boolean;
  /** Both phases back in Idle: the batch has been discharged. */
  idle: boolean;
}

const AMBIENT_C = 20;
const HEAT_TARGET_C = 80;
const LEVEL_MAX_L = 1900;

/** The unit at rest: empty, ambient temperature, atmospheric-ish pressure. */
export function initialProcess(): UnitProcess {
  return { level: 0, temperature: AMBIENT_C, pressure: pressureAt(AMBIENT_C), agitator: false };
}

/**
 * Advances the process by `dtMs`; `runningMs` scales the rates so that a full CHARGE fills the vessel and a full HEAT
 * gets close to the target temperature whatever timing the simulator runs with. `noise` is in [-1, 1].
 */
export function stepProcess(p: UnitProcess, a: PhaseActivity, dtMs: number, runningMs: number, noise = 0): UnitProcess {
  const fillRate = LEVEL_MAX_L / runningMs; // L per ms
  let level = p.level;
  if (a.charging) level = Math.min(LEVEL_MAX_L, level + fillRate * dtMs);
  else if (a.idle) level = Math.max(0, level - 2 * fillRate * dtMs);
  const tauHeat = Math.max(runningMs / 4, 250);
  const target = a.heating ? HEAT_TARGET_C : AMBIENT_C;
  const tau = a.heating ? tauHeat : tauHeat * 4;
  const temperature = target + (p.temperature - target) * Math.exp(-dtMs / tau) + noise * 0.05;
  return {
    level: round(level),
    temperature: round(temperature),
    pressure: round(pressureAt(temperature) + noise * 0.002, 3),
    agitator: a.heating,
  };
}

function pressureAt(temperatureC: number): number {
  return 1.013 + (temperatureC - AMBIENT_C) * 0.02;
}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
