import { pino, type Logger } from 'pino';

/** Logs go to stderr so that stdout carries only the ready line and the demo credentials. */
const root = pino({ level: 'info', base: undefined }, pino.destination({ fd: 2, sync: false }));

/** A logger per module (house style). */
export function logger(module: string): Logger {
  return root.child({ module });
}

/** Sets the level of every module logger (from config/env.ts). */
export function setLogLevel(level: string): void {
  root.level = level;
}
export type { Logger };
