// Builds and runs the pure C++ unit tests with ctest; with --sanitize, under
// ASan+UBSan. With --fuzz, also builds the libFuzzer targets with clang and
// runs each for a bounded number of inputs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const run = (cmd, argv, opts = {}) =>
  execFileSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
const jobs = '2';

const sanitize = args.has('--sanitize');
const build = join(root, sanitize ? 'build-native-san' : 'build-native');
run('cmake', [
  '-S',
  root,
  '-B',
  build,
  '-DCMAKE_BUILD_TYPE=Release',
  `-DFLATSTREAM_SANITIZE=${sanitize ? 'ON' : 'OFF'}`,
  '--log-level=WARNING',
]);
run('cmake', ['--build', build, '-j', jobs]);
run('ctest', ['--test-dir', build, '--output-on-failure']);

if (args.has('--fuzz')) {
  const clang = ['clang++-14', 'clang++'].find((c) => {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!clang) throw new Error('--fuzz needs clang++ (Debian: clang-14 libclang-rt-14-dev)');
  const fbuild = join(root, 'build-fuzz');
  run('cmake', [
    '-S',
    root,
    '-B',
    fbuild,
    `-DCMAKE_CXX_COMPILER=${clang}`,
    '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
    '-DFLATSTREAM_FUZZ=ON',
    '--log-level=WARNING',
  ]);
  run('cmake', ['--build', fbuild, '-j', jobs]);
  // Bounded for CI: a run count, capped in time (FUZZ_RUNS / FUZZ_SECONDS to go longer).
  const runs = process.env.FUZZ_RUNS ?? '2000000';
  const seconds = process.env.FUZZ_SECONDS ?? '60';
  for (const f of readdirSync(fbuild).filter((n) => /^fuzz_\w+$/.test(n))) {
    const corpus = join(fbuild, `${f}-corpus`);
    mkdirSync(corpus, { recursive: true });
    console.log(`fuzz: ${f} for ${runs} inputs`);
    run(join(fbuild, f), [
      `-runs=${runs}`,
      `-max_total_time=${seconds}`,
      '-max_len=4096',
      '-print_final_stats=1',
      corpus,
    ]);
  }
  if (!existsSync(fbuild)) throw new Error('fuzz build missing');
}
