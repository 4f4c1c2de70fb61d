import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * DESIGN.md's layout table as data: what each portable layer may import. A specifier is allowed when it equals an
 * entry or starts with it (`machines/` covers every file there); relative imports are resolved to the layer they
 * land in first. `src/` and `test/` may import everything and are not checked.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  machines: ['machines/', 'xstate', 'zod'],
  actors: ['actors/', 'machines/', 'nats/', 'xstate', '@nats-io/jetstream', '@nats-io/kv', '@nats-io/nats-core'],
  nats: ['nats/', '@nats-io/jetstream', '@nats-io/kv', '@nats-io/nats-core', 'msgpackr', 'zod'],
  config: ['config/', 'zod', 'canonicalize', 'node:fs', 'node:path', 'node:crypto'],
};

/** Tokens a layer must not use at all, with the reason (DESIGN.md principles 7 and 13). */
export const FORBIDDEN: Readonly<Record<string, readonly { pattern: RegExp; why: string }[]>> = {
  machines: [
    { pattern: /\bDate\.now\b|\bnew Date\(\s*\)/, why: 'machines read time only from the input (`at`)' },
    { pattern: /\bMath\.random\b|\bcrypto\./, why: 'machines are deterministic' },
    { pattern: /\bprocess\./, why: 'machines are portable' },
  ],
  actors: [
    { pattern: /\bDate\.now\b/, why: 'the actor host is given its clock' },
    { pattern: /\bprocess\.|\bBuffer\b/, why: 'actors/ uses web-standard APIs only' },
  ],
  nats: [{ pattern: /\bprocess\./, why: 'nats/ is portable' }],
  config: [],
};

/** One import or token a layer may not use. */
export interface Violation {
  file: string;
  line: number;
  what: string;
  why: string;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

/** Every violation of {@link LAYERS} and {@link FORBIDDEN} under `root` (the repository, or a fixture tree like it). */
export function checkLayers(root: string): Violation[] {
  const out: Violation[] = [];
  for (const layer of Object.keys(LAYERS)) {
    for (const file of tsFiles(join(root, layer))) out.push(...checkFile(root, layer, file));
  }
  return out;
}

function checkFile(root: string, layer: string, file: string): Violation[] {
  const text = readFileSync(file, 'utf8');
  const rel = relative(root, file).split(sep).join('/');
  const out: Violation[] = [];
  const code = stripComments(text);
  for (const m of code.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    const target = spec.startsWith('.') ? resolveLayer(rel, spec) : spec;
    if (!LAYERS[layer]!.some((a) => target === a || target.startsWith(a) || target.startsWith(`${a}/`))) {
      out.push({ file: rel, line: lineOf(code, m.index! + m[0].indexOf(spec)), what: `imports ${spec}`, why: `${layer}/ may import only ${LAYERS[layer]!.join(', ')}` });
    }
  }
  for (const f of FORBIDDEN[layer] ?? []) {
    const m = f.pattern.exec(code);
    if (m) out.push({ file: rel, line: lineOf(code, m.index), what: `uses ${m[0]}`, why: f.why });
  }
  return out;
}

/** `../nats/codec.ts` seen from `actors/host.ts` is `nats/codec.ts`. */
function resolveLayer(fromFile: string, spec: string): string {
  const parts = fromFile.split('/').slice(0, -1);
  for (const p of spec.split('/')) {
    if (p === '..') parts.pop();
    else if (p !== '.') parts.push(p);
  }
  return parts.join('/');
}

/** Comments blanked out (kept as spaces and newlines so line numbers stay right). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function tsFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return n.endsWith('.ts') ? [p] : [];
  });
}

/** Folders whose errors come from the registry (src/errors.ts and the layers' own classes): no plain `new Error`. */
const REGISTERED_ERRORS = ['src', 'actors', 'nats', 'config', 'machines'];

/** Every `new Error(` outside tests: an error without a stable code (DESIGN.md house style: one error registry). */
export function plainErrors(root: string): Violation[] {
  const out: Violation[] = [];
  for (const dir of REGISTERED_ERRORS) {
    for (const file of tsFiles(join(root, dir))) {
      const code = stripComments(readFileSync(file, 'utf8'));
      for (const m of code.matchAll(/\bnew Error\(/g)) {
        out.push({ file: relative(root, file).split(sep).join('/'), line: lineOf(code, m.index!), what: 'new Error(', why: 'errors carry a registry code (src/errors.ts)' });
      }
    }
  }
  return out;
}
