import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getMachineModel, machineNames, renderDiagram } from '../../src/diagrams/index.ts';
import { escapeXml } from '../../src/diagrams/svg.ts';
import { chromiumTool, describeWithTools, findTool, probeTool } from '../helpers/tools.ts';
import { CHROMIUM_ARGS } from '../helpers/browser.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** The Mermaid CLI of the devDependencies (MMDC_BIN overrides); it drives Debian's Chromium, never a download. */
const mmdc = probeTool(
  findTool('mmdc', [join(ROOT, 'node_modules/.bin/mmdc')], process.env.MMDC_BIN, 'npm ci (devDependency @mermaid-js/mermaid-cli)'),
  ['--version'],
);
const chromium = probeTool(chromiumTool(), ['--version']);

let dir: string;
let puppeteerConfig: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phaseline-mmdc-'));
  puppeteerConfig = join(dir, 'puppeteer.json');
  // The Chromium probed above, with the flags of test/helpers/browser.ts: no sandbox (root in CI), no background
  // connections this network refuses.
  await writeFile(puppeteerConfig, JSON.stringify({
    executablePath: chromium.path,
    args: CHROMIUM_ARGS,
  }));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Renders one Mermaid text to SVG with mmdc; rejects with mmdc's own error text. */
async function render(name: string, text: string): Promise<string> {
  const input = join(dir, `${name}.mmd`);
  const output = join(dir, `${name}.svg`);
  await writeFile(input, text);
  try {
    await run(mmdc.path!, ['--quiet', '--puppeteerConfigFile', puppeteerConfig, '--input', input, '--output', output], { timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`mmdc refused ${name}: ${(e.stderr ?? '').split('\n').filter((l) => !/^\s+at /.test(l)).join('\n').trim() || e.message}`);
  }
  return readFile(output, 'utf8');
}

describeWithTools('the Mermaid CLI renders every generated statechart (docs/diagrams/*.md)', [mmdc, chromium], () => {
  for (const name of machineNames()) {
    const labels = getMachineModel(name).states.map((s) => s.path[s.path.length - 1]!);
    it(`renders ${name} to SVG with a box labelled with each of its ${labels.length} state names`, async () => {
      const svg = await render(name, (await renderDiagram(name, 'mermaid')).body);
      expect(svg).toMatch(/^<svg[^>]+xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      const missing = labels.filter((label) => !svg.includes(`>${escapeXml(label)}<`));
      expect(missing, `state names not drawn in ${name}`).toEqual([]);
    });
  }

  it('refuses a parallel region that has the name of the composite state around it (the check can fail)', async () => {
    const cyclic = 'stateDiagram-v2\n    [*] --> alarm\n    state alarm {\n        state alarm {\n            [*] --> A\n        }\n        --\n        state other {\n            [*] --> B\n        }\n    }\n';
    await expect(render('cyclic', cyclic)).rejects.toThrow(/cycle/);
  });
});
