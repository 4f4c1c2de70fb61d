import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diagramFiles } from './files.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm run diagrams`: writes docs/diagrams/ from the machine definitions. */
for (const [path, content] of await diagramFiles()) {
  await mkdir(dirname(join(ROOT, path)), { recursive: true });
  await writeFile(join(ROOT, path), content);
  process.stdout.write(`wrote ${path}\n`);
}
