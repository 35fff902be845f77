// Regenerates test/generated/ from test/schema/*.fbs with Debian's flatc
// (the same flatc whose headers the native code uses). The output is
// committed so tests and benchmarks run without flatc; test/generated.test.ts
// checks it is up to date.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function generate(outDir) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const schemas = readdirSync(join(root, 'test/schema'))
    .filter((f) => f.endsWith('.fbs'))
    .map((f) => join(root, 'test/schema', f));
  rmSync(outDir, { recursive: true, force: true });
  execFileSync('flatc', ['--ts', '-o', outDir, ...schemas], { stdio: 'inherit' });
  execFileSync('flatc', ['-b', '--schema', '-o', outDir, ...schemas], { stdio: 'inherit' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test/generated');
  generate(out);
  console.log(`generated ${out}`);
}
