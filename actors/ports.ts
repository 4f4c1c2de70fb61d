/** Minimal structural ports so `actors/` stays free of shell imports (DESIGN.md principle 13). */
export interface LogPort {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface MetricsPort {
  inc(name: string, labels?: Record<string, string>, by?: number, help?: string): void;
  set(name: string, labels: Record<string, string>, value: number, help?: string): void;
}
