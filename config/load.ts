import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import canonicalize from 'canonicalize';
import type { z } from 'zod';
import { ConfigError } from './errors.ts';
import { FILES, type PlantConfig } from './plant.schema.ts';

type Parsed = { [K in keyof typeof FILES]: z.infer<(typeof FILES)[K]> };

/**
 * Loads the plant model once: every file parsed and validated by its zod schema, references cross-checked,
 * deep-frozen, and hashed — the hash is the config version stamped on every record (DESIGN.md principle 12).
 * A problem throws {@link ConfigError} naming the file, the path in it and what is wrong.
 */
export function loadConfig(dir: string): PlantConfig {
  const root = resolve(dir);
  const parsed = {} as Record<string, unknown>;
  for (const [file, schema] of Object.entries(FILES)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(join(root, file), 'utf8'));
    } catch (err) {
      throw new ConfigError(join(root, file), '', (err as Error).message);
    }
    const result = schema.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new ConfigError(join(root, file), issue.path.join('.'), issue.message);
    }
    parsed[file] = result.data;
  }
  const p = parsed as Parsed;
  crossCheck(root, p);
  const version = 'sha256:' + createHash('sha256').update(canonicalize(p) ?? '').digest('hex');
  return deepFreeze({
    version,
    dir: root,
    plant: p['plant.json'],
    sources: p['sources.json'],
    units: p['units.json'],
    phases: p['phases.json'],
    tags: p['tags.json'],
    alarms: p['alarms.json'],
    security: p['security.json'],
    commands: p['commands.json'],
    runtime: p['runtime.json'],
  });
}

function crossCheck(root: string, p: Parsed): void {
  const fail = (file: string, path: string, problem: string) => {
    throw new ConfigError(join(root, file), path, problem);
  };
  const unique = (file: string, ids: string[]) => {
    const seen = new Set<string>();
    ids.forEach((id, i) => (seen.has(id) ? fail(file, `${i}.id`, `duplicate id ${id}`) : seen.add(id)));
    return seen;
  };
  const sources = unique('sources.json', p['sources.json'].map((s) => s.id));
  const units = unique('units.json', p['units.json'].map((u) => u.id));
  unique('phases.json', p['phases.json'].map((x) => x.id));
  const tags = unique('tags.json', p['tags.json'].map((t) => t.tag));
  unique('alarms.json', p['alarms.json'].map((a) => a.id));
  const inPlant = new Set(p['plant.json'].areas.flatMap((a) => [...a.cells, ...a.lines].flatMap((c) => c.units)));
  p['units.json'].forEach((u, i) => {
    if (!sources.has(u.source)) fail('units.json', `${i}.source`, `unknown source ${u.source}`);
    if (!inPlant.has(u.id)) fail('units.json', `${i}.id`, `unit ${u.id} is not placed in plant.json`);
  });
  p['phases.json'].forEach((ph, i) => {
    if (!units.has(ph.unit)) fail('phases.json', `${i}.unit`, `unknown unit ${ph.unit}`);
    for (const k of ['stateTag', 'commandTag'] as const)
      if (ph[k] && !tags.has(ph[k])) fail('phases.json', `${i}.${k}`, `unknown tag ${ph[k]}`);
  });
  p['tags.json'].forEach((t, i) => {
    if (!units.has(t.unit)) fail('tags.json', `${i}.unit`, `unknown unit ${t.unit}`);
    if (!sources.has(t.source)) fail('tags.json', `${i}.source`, `unknown source ${t.source}`);
  });
  p['alarms.json'].forEach((a, i) => {
    if (!tags.has(a.tag)) fail('alarms.json', `${i}.tag`, `unknown tag ${a.tag}`);
    if (!units.has(a.unit)) fail('alarms.json', `${i}.unit`, `unknown unit ${a.unit}`);
  });
  const roles = new Set(Object.keys(p['security.json'].roles));
  p['security.json'].demoUsers.forEach((u, i) =>
    u.roles.forEach((r, j) => roles.has(r) || fail('security.json', `demoUsers.${i}.roles.${j}`, `unknown role ${r}`)),
  );
  p['commands.json'].forEach((c, i) => {
    if (!tags.has(c.tag)) fail('commands.json', `${i}.tag`, `unknown tag ${c.tag}`);
    if (!sources.has(c.source)) fail('commands.json', `${i}.source`, `unknown source ${c.source}`);
    if (!c.values && !c.range) fail('commands.json', `${i}`, 'a command rule needs values or range');
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
