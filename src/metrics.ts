/**
 * A small Prometheus registry: counters and gauges with labels, rendered as text exposition format 0.0.4.
 * Passed in as a port (never a singleton) so tests can read the figures they caused.
 */
export type Labels = Record<string, string>;

interface Family {
  type: 'counter' | 'gauge';
  help: string;
  values: Map<string, { labels: Labels; value: number }>;
}

export class Metrics {
  readonly #families = new Map<string, Family>();

  /** Adds `by` (default 1) to a counter. */
  inc(name: string, labels: Labels = {}, by = 1, help = name): void {
    const slot = this.#slot(name, 'counter', help, labels);
    slot.value += by;
  }

  /** Sets a gauge. */
  set(name: string, labels: Labels, value: number, help = name): void {
    this.#slot(name, 'gauge', help, labels).value = value;
  }

  /** Reads one series (0 when absent). */
  get(name: string, labels: Labels = {}): number {
    return this.#families.get(name)?.values.get(key(labels))?.value ?? 0;
  }

  /** Sum of a family over every label set. */
  total(name: string): number {
    let sum = 0;
    for (const v of this.#families.get(name)?.values.values() ?? []) sum += v.value;
    return sum;
  }

  /** Declares a family so that it is exposed (with help text) before its first sample. */
  describe(name: string, type: 'counter' | 'gauge', help: string): void {
    if (!this.#families.has(name)) this.#families.set(name, { type, help, values: new Map() });
    else this.#families.get(name)!.help = help;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.#families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const { labels, value } of f.values.values()) lines.push(`${name}${fmt(labels)} ${value}`);
    }
    return lines.join('\n') + '\n';
  }

  #slot(name: string, type: Family['type'], help: string, labels: Labels) {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, (f = { type, help, values: new Map() }));
    const k = key(labels);
    let slot = f.values.get(k);
    if (!slot) f.values.set(k, (slot = { labels: { ...labels }, value: 0 }));
    return slot;
  }
}

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function fmt(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return '{' + keys.map((k) => `${k}="${esc(labels[k]!)}"`).join(',') + '}';
}
