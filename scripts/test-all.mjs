// The whole test suite: native unit tests (ctest, plain and under ASan+UBSan),
// a bounded fuzz run, jest with the native addon, jest again with the
// TypeScript fallback (FLATSTREAM_NATIVE=0), the other platforms
// (docs/design.md, "Platforms": the linux-arm64 prebuild built and tested
// under qemu, the win32-x64 build linked with mingw-w64 and smoke-tested
// under wine), and the packed-tarball test (installs, hygiene, the prebuild
// under every Node major "engines" admits). Ends with one
// "N passed, N failed" line over everything.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'flatstream-test-'));
let passed = 0;
let failed = 0;
const failures = [];

function step(name, cmd, args, { env = {}, count } = {}) {
  console.log(`\n=== ${name}`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const out = r.stdout.toString();
  process.stdout.write(out);
  const [p, f] = count ? count(out) : [r.status === 0 ? 1 : 0, r.status === 0 ? 0 : 1];
  // A step that exits non-zero fails even if its counts look clean.
  const bad = r.status !== 0 ? Math.max(f, 1) : f;
  passed += p;
  failed += bad;
  if (bad) failures.push(name);
}

const ctestCount = (out) => {
  const m = /(\d+)% tests passed, (\d+) tests failed out of (\d+)/.exec(out);
  return m ? [Number(m[3]) - Number(m[2]), Number(m[2])] : [0, 1];
};
const jestCount = (file) => () => {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8'));
    return [j.numPassedTests, j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0)];
  } catch {
    return [0, 1];
  }
};
// The cross steps and the pack test print "<name>: N passed, N failed".
const selfCount = (name) => (out) => {
  const m = new RegExp(`${name}: (\\d+) passed, (\\d+) failed`).exec(out);
  return m ? [Number(m[1]), Number(m[2])] : [0, 1];
};
const hasClang = spawnSync('clang++-14', ['--version']).status === 0;

// The GC tests run the built package in child processes.
step('build the TypeScript', 'npm', ['run', 'build:ts'], { count: () => [0, 0] });
step('typecheck (strict TS, lib and tests)', 'npm', ['run', 'typecheck']);
step('module rules (dependency-cruiser, .dependency-cruiser.cjs)', 'npm', ['run', 'check:modules']);
step(
  'release workflow on paper (scripts/check-workflow.mjs)',
  'node',
  ['scripts/check-workflow.mjs'],
  { count: selfCount('check-workflow') },
);
step('docs/design.md citations name sections that exist', 'node', [
  'scripts/check-design-refs.mjs',
]);
step('docs/design.md import levels match lib/ (scripts/import-graph.mjs --check)', 'node', [
  'scripts/import-graph.mjs',
  '--check',
]);
step('ctest', 'node', ['scripts/ctest.mjs'], { count: ctestCount });
step(
  'ctest under ASan+UBSan' + (hasClang ? ' and bounded fuzzing' : ''),
  'node',
  ['scripts/ctest.mjs', '--sanitize', ...(hasClang ? ['--fuzz'] : [])],
  {
    count: ctestCount,
  },
);
for (const [mode, env] of [
  ['native', { FLATSTREAM_NATIVE: '1' }],
  ['fallback', { FLATSTREAM_NATIVE: '0' }],
]) {
  const file = join(tmp, `jest-${mode}.json`);
  step(`jest (${mode})`, 'npx', ['jest', '--ci', '--json', `--outputFile=${file}`], {
    env,
    count: jestCount(file),
  });
}
step('cross toolchains and Node binaries (scripts/setup-cross.sh)', 'bash', [
  'scripts/setup-cross.sh',
]);
step(
  'linux-arm64: prebuild cross-built, ctest + smoke + jest subset under qemu-aarch64',
  'node',
  ['scripts/cross-arm64.mjs'],
  { count: selfCount('cross-arm64') },
);
step(
  'win32-x64: addon cross-built with mingw-w64, linked, smoke test under wine',
  'node',
  ['scripts/cross-win64.mjs', '--wine'],
  { count: selfCount('cross-win64') },
);
step('x64 Node 18, 20, 22 and 24 from npm (scripts/setup-nodes.sh)', 'bash', [
  'scripts/setup-nodes.sh',
]);
step(
  'packed tarball: prebuilds, no-compiler fallback, source build, npm rebuild, hygiene (attw, publint), the prebuild under Node 18-24',
  'node',
  ['scripts/pack-test.mjs'],
  { count: selfCount('pack-test') },
);

console.log(failures.length ? `\nfailed steps: ${failures.join(', ')}` : '\nall steps passed');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
