import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { machineNames } from '../../src/diagrams/index.ts';
import { launchChromium } from '../helpers/browser.ts';
import { chromiumTool, describeWithTools } from '../helpers/tools.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';
import { exceptionAdapter } from '../model/adapters/exception.ts';
import { check, type ModelResult } from '../model/harness/check.ts';
import { plan } from '../model/harness/generate.ts';
import { runOnHost } from '../model/harness/host-run.ts';
import { buildReport, runInfo } from '../model/report/build.ts';

let server: TestNats;
let browser: Browser;
let dir: string;

describeWithTools('OQ report in a real browser', [chromiumTool()], () => {
  beforeAll(async () => {
    server = await startTestNats();
    browser = await launchChromium();
    dir = await mkdtemp(join(tmpdir(), 'phaseline-oq-'));
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** One real model run (the exception machine on the real host), the others absent: the report must say so. */
  async function report(): Promise<{ file: string; result: ModelResult }> {
    const nc = await connect({ servers: server.url });
    try {
      const p = plan(exceptionAdapter);
      const result = check(exceptionAdapter, p, await runOnHost(exceptionAdapter, p, nc), `node ${process.version}`);
      const { html } = await buildReport(new Map([['exception', result]]), [], runInfo('test'));
      const file = join(dir, 'report.html');
      await writeFile(file, html);
      return { file, result };
    } finally {
      await nc.close();
    }
  }

  it('shows every machine\'s diagram, the run identification, the coverage and the traceability matrix', async () => {
    const { file, result } = await report();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(`file://${file}`);
      const sections = await page.locator('section').count();
      expect(sections).toBe(machineNames().length);
      for (const name of machineNames()) {
        const svg = page.locator(`section#m-${name} .diagram svg`).first();
        const box = await svg.boundingBox();
        expect(box, `diagram of ${name}`).not.toBeNull();
        expect(box!.width).toBeGreaterThan(100);
        expect(box!.height).toBeGreaterThan(50);
        // each drawn state is labelled in the diagram
        expect(await page.locator(`section#m-${name} .diagram svg text`).count(), name).toBeGreaterThan(2);
      }
      const exception = page.locator('section#m-exception');
      for (const state of ['Open', 'Acknowledged', 'Investigated', 'Signed', 'Closed']) {
        await expect(exception.locator('.diagram svg text', { hasText: new RegExp(`^${state}$`) }).first().isVisible()).resolves.toBe(true);
      }
      expect(await exception.textContent()).toContain(`transitions ${result.coverage.transitions}/${result.coverage.transitions} (100.0 %)`);
      // traceability: every URS id appears with a result; a covered transition links to the generated test that covered it
      const trace = await exception.locator('table').first().innerText();
      expect(trace).toContain('URS-EXC-007');
      expect(trace).toMatch(/pass/);
      const link = exception.locator('a[href^="#exception-path-"]').first();
      await link.click();
      const target = (await link.getAttribute('href'))!.slice(1);
      await expect(page.locator(`details#${target}`).isVisible()).resolves.toBe(true);
      // machines without a run: the verdict says FAIL and names them
      expect(await page.locator('#verdict').innerText()).toBe('FAIL');
      expect(await page.locator('body').innerText()).toContain('phase: no model-based run');
      expect(await page.title()).toMatch(/^Phaseline OQ/);
    } finally {
      await page.close();
    }
  }, 120_000);
});
