// Compiles lib/ to CommonJS (dist/cjs) and writes a thin ESM wrapper
// (dist/esm) that re-exports it. One implementation serves both entry points,
// so `instanceof FlatStreamError` holds whichever way a user imports us (no
// dual-package hazard), and the native addon is loaded once.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
  {
    stdio: 'inherit',
  },
);
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');

const require = createRequire(import.meta.url);
process.env.FLATSTREAM_NATIVE = '0'; // the export list does not depend on the addon
const names = Object.keys(require(join(root, 'dist/cjs/index.js'))).filter((n) => n !== 'default');
mkdirSync(join(root, 'dist/esm'), { recursive: true });
writeFileSync(
  join(root, 'dist/esm/index.mjs'),
  `import cjs from '../cjs/index.js';\n\nexport const {\n${names.map((n) => `  ${n},`).join('\n')}\n} = cjs;\n`,
);
writeFileSync(join(root, 'dist/esm/index.d.mts'), `export * from '../cjs/index.js';\n`);
console.log(`dist/: CommonJS build and ESM wrapper (${names.length} exports)`);
