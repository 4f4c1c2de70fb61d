import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/**
 * Outside tools the tests use as judges (Chromium, promtool, pdftotext, …) that the quick start does not install.
 * A test that needs one runs when it is present; when it is absent the suite is reported as skipped, with the reason
 * in its title. CI installs every tool and sets `PHASELINE_REQUIRE_TOOLS=1`, which turns such a skip into a failure.
 */
export interface Tool {
  name: string;
  /** The executable to run (absolute, or found on PATH), when present. */
  path?: string;
  /** Why it is not usable, when it is not. */
  missing?: string;
}

/** True when CI asked for every outside tool to be present (a skip would hide a check). */
export const TOOLS_REQUIRED = /^(1|true|yes)$/i.test(process.env.PHASELINE_REQUIRE_TOOLS ?? '');

/** Finds an executable: `override` (an env variable's value) first, then each of `names` on PATH. */
export function findTool(name: string, names: string[], override?: string, install?: string): Tool {
  const candidates = override ? [override] : names.flatMap((n) => (n.includes('/') ? [n] : pathDirs().map((d) => join(d, n))));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return { name, path: c };
    } catch {
      // not this one
    }
  }
  const where = override ? override : `${names.join(' or ')} on PATH`;
  return { name, missing: `${name} not found (${where})${install ? `; install it with: ${install}` : ''}` };
}

/** Runs `tool --version`-like probes: a tool that is present but cannot run is missing too, with its error. */
export function probeTool(tool: Tool, args: string[]): Tool {
  if (!tool.path) return tool;
  try {
    execFileSync(tool.path, args, { stdio: 'pipe', timeout: 30_000 });
    return tool;
  } catch (err) {
    return { name: tool.name, missing: `${tool.name} at ${tool.path} does not run: ${String((err as Error).message).split('\n')[0]}` };
  }
}

/**
 * `describe` for a suite that needs outside tools: runs it when they are all present; otherwise registers a skipped
 * suite whose title carries the reason, or — when {@link TOOLS_REQUIRED} — a failing one.
 */
export function describeWithTools(title: string, tools: Tool[], body: () => void): void {
  const missing = tools.filter((t) => !t.path || t.missing).map((t) => t.missing ?? `${t.name} not found`);
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  const reason = missing.join('; ');
  if (TOOLS_REQUIRED) {
    describe(title, () => {
      // The suite's own tests are not run: one failing test says why.
      it(`needs ${tools.map((t) => t.name).join(', ')} (PHASELINE_REQUIRE_TOOLS is set)`, () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`skipped: ${title}: ${reason}\n`);
  describe.skip(`${title} [skipped: ${reason}]`, body);
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean);
}

/** Debian's Chromium (CHROMIUM_BIN overrides): the browser of the report and page tests. */
export const chromiumTool = (): Tool =>
  findTool('chromium', ['chromium', '/usr/bin/chromium'], process.env.CHROMIUM_BIN, 'apt-get install chromium');
