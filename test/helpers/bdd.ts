/**
 * The test API the runtime-neutral tests import instead of `vitest` (DESIGN.md principle 13): under Node it is vitest
 * itself; under Deno (`deno test`, see deno.json) it is `node:test` plus Jest's standalone `expect`, so Deno never
 * loads vitest. Only what the machine and model tests use is mapped: `describe`, `it` (and `it.each`), `expect`,
 * `beforeAll`, `afterAll`.
 */
import type * as Vitest from 'vitest';

type Api = Pick<typeof Vitest, 'describe' | 'it' | 'expect' | 'beforeAll' | 'afterAll'>;

const api: Api = 'Deno' in globalThis ? await denoApi() : await import('vitest');

export const describe: Api['describe'] = api.describe;
export const it: Api['it'] = api.it;
export const expect: Api['expect'] = api.expect;
export const beforeAll: Api['beforeAll'] = api.beforeAll;
export const afterAll: Api['afterAll'] = api.afterAll;

type Fn = (...args: any[]) => unknown;

/** vitest.config.ts's testTimeout and hookTimeout; node:test has none by default, and a hung test would hang CI. */
const TIMEOUT_MS = 60_000;

async function denoApi(): Promise<Api> {
  const nodeTest = await import('node:test');
  const { expect: jestExpect } = await import('expect');
  const itFn = (name: string, fn: Fn, timeout = TIMEOUT_MS) => nodeTest.it(name, { timeout }, () => fn() as void);
  const each = (cases: readonly unknown[]) => (template: string, fn: Fn, timeout?: number) => {
    const spread = cases.every((c) => Array.isArray(c));
    cases.forEach((c, i) => {
      const args = spread ? (c as unknown[]) : [c];
      itFn(formatTitle(template, args, i), () => fn(...args), timeout);
    });
  };
  const describeFn = (name: string, fn: () => void) => nodeTest.describe(name, fn);
  const hook = (register: typeof nodeTest.before) => (fn: Fn, timeout = TIMEOUT_MS) =>
    register(() => fn() as void, { timeout });
  return {
    describe: describeFn as unknown as Api['describe'],
    it: Object.assign(itFn, { each }) as unknown as Api['it'],
    expect: withMessages(jestExpect) as unknown as Api['expect'],
    beforeAll: hook(nodeTest.before) as unknown as Api['beforeAll'],
    afterAll: hook(nodeTest.after) as unknown as Api['afterAll'],
  };
}

/** vitest's `it.each` titles: `$a.b` reads the case object, `%s`/`%d`/`%i`/`%j`/`%o` the arguments, `%#` the index. */
function formatTitle(template: string, args: unknown[], index: number): string {
  const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));
  let title = template.replace(/%#/g, String(index)).replace(/%\$/g, String(index + 1));
  const first = args[0];
  if (first !== null && typeof first === 'object' && title.includes('$')) {
    title = title.replace(/\$([\w.]+)/g, (_, path: string) =>
      show(path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], first)));
  }
  let next = 0;
  return title.replace(/%[sdijfo%]/g, (m) => (m === '%%' ? '%' : next < args.length ? show(args[next++]) : m));
}

/** Jest's `expect` takes one argument; vitest's takes an optional message, which is put in front of a failure. */
function withMessages(jestExpect: typeof import('expect').expect): Fn {
  const wrap = (target: Record<string, unknown>, message: string): Record<string, unknown> =>
    new Proxy(target, {
      get(t, key) {
        const value = Reflect.get(t, key);
        if (typeof value === 'function') {
          return (...a: unknown[]) => {
            try {
              return value.apply(t, a);
            } catch (err) {
              if (err instanceof Error) err.message = `${message}\n\n${err.message}`;
              throw err;
            }
          };
        }
        return value && typeof value === 'object' ? wrap(value as Record<string, unknown>, message) : value;
      },
    });
  const expect = (actual: unknown, message?: string) => {
    const expectation = jestExpect(actual) as unknown as Record<string, unknown>;
    return message === undefined ? expectation : wrap(expectation, message);
  };
  return Object.assign(expect, jestExpect);
}
