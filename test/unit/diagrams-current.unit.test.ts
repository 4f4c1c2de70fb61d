import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { diagramFiles } from '../../src/diagrams/files.ts';
import { machineNames } from '../../src/diagrams/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const files = await diagramFiles();

describe('committed diagrams', () => {
  it('include an SVG, SCXML, JSON and Markdown file for every machine', () => {
    for (const name of machineNames()) {
      for (const ext of ['svg', 'scxml', 'json', 'md']) expect(files.has(`docs/diagrams/${name}.${ext}`)).toBe(true);
    }
  });

  for (const [path, content] of files) {
    it(`${path} is what the machine definition renders today (run npm run diagrams)`, () => {
      let committed: string;
      try {
        committed = readFileSync(join(ROOT, path), 'utf8');
      } catch {
        throw new Error(`${path} is missing: run npm run diagrams and commit it`);
      }
      expect(committed, `${path} is out of date: run npm run diagrams`).toBe(content);
    });
  }
});
