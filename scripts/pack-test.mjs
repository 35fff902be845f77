// Proves the shipping paths (docs/design.md, "Platforms"): prebuildify makes
// prebuilds/linux-x64/*.node, `npm pack` puts it in the tarball beside the
// linux-arm64 one (scripts/cross-arm64.mjs), and the tarball installs into
// an empty project:
//   1. matching prebuild, no compiler reachable (PATH holds only node, npm
//      and sh; CC/CXX point nowhere): the addon loads, CommonJS and ESM;
//   2. the same tarball without the linux-x64 prebuild, no compiler: the
//      install exits 0 with one line saying the TypeScript engine is in use
//      and how to get a native build, and the package loads without it (a
//      CaptureSink in portable mode, its frames in the file at exit);
//   3. that tarball with a compiler: the install builds from source;
//   4. `npm rebuild flatstream` in project 1, with a compiler: builds;
//   5. no prebuild and a compiler that fails: exit 0, one line naming the
//      build's log, the TypeScript engine.
// npm 11 runs a dependency's install script only when the project allows
// it: project 1 installs unapproved (the prebuild needs no script), then
// approves with `npm install-scripts approve flatstream` before its rebuild;
// projects 2 and 3 allow it in package.json ("allowScripts"), as the README
// tells users. --foreground-scripts shows the install line.
// Prints "pack-test: N passed, N failed".
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checks } from './checks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], ...opts }).toString();
const here = `${process.platform}-${process.arch}`;
const { check, done } = checks('pack-test');

run('npx', ['prebuildify', '--napi', '--strip', '--tag-libc']);
console.log(`prebuilds: ${readdirSync(join(root, 'prebuilds', here)).join(', ')}`);
run('npm', ['run', 'build:ts']);

const dir = mkdtempSync(join(tmpdir(), 'flatstream-pack-'));
const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir]))[0];
const files = packed.files.map((f) => f.path);
const lacking = [
  'dist/cjs/index.js',
  'dist/esm/index.mjs',
  'binding.gyp',
  'native/sources.json',
  'scripts/install.cjs',
].filter((f) => !files.includes(f));
check(
  'the tarball has the build, the sources and the install script',
  lacking.length === 0,
  lacking.join(', '),
);
for (const target of [here, 'linux-arm64']) {
  const prebuild = files.find((f) => f.startsWith(`prebuilds/${target}/`) && f.endsWith('.node'));
  check(`the tarball has a ${target} prebuild`, prebuild !== undefined, prebuild ?? 'none');
}
check(
  'the tarball has no tests or build output',
  !files.some((f) => f.startsWith('test/') || f.startsWith('build/')),
);
console.log(`tarball: ${packed.filename}, ${packed.files.length} files, ${packed.size} bytes`);

// The same package without this platform's prebuild.
const bare = join(dir, 'bare');
mkdirSync(bare);
execFileSync('tar', ['xzf', join(dir, packed.filename), '-C', bare]);
rmSync(join(bare, 'package', 'prebuilds', here), { recursive: true, force: true });
const barePacked = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--pack-destination', bare], {
    cwd: join(bare, 'package'),
    stdio: ['ignore', 'pipe', 'inherit'],
  }).toString(),
)[0];
const bareTgz = join(bare, barePacked.filename);

// No compiler reachable: PATH is a directory holding only node, npm and sh.
const bin = join(dir, 'bin');
mkdirSync(bin);
const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm']).toString().trim());
symlinkSync(process.execPath, join(bin, 'node'));
symlinkSync(npmCli, join(bin, 'npm'));
symlinkSync('/bin/sh', join(bin, 'sh')); // npm runs lifecycle scripts with sh
const base = { HOME: process.env.HOME ?? dir, npm_config_update_notifier: 'false' };
const noCompiler = { ...base, PATH: bin, CC: '/nonexistent/cc', CXX: '/nonexistent/c++' };
const withCompiler = { ...base, PATH: process.env.PATH, JOBS: '2' };
const scriptFlags = ['--foreground-scripts'];

/** A new project; installs `tgz` there; returns the project and the install's output. */
function install(name, tgz, env) {
  const app = join(dir, name);
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    '{ "name": "app", "version": "1.0.0", "private": true }\n',
  );
  const r = spawnSync(
    join(bin, 'npm'),
    ['install', '--no-audit', '--no-fund', '--prefer-offline', ...scriptFlags, tgz],
    { cwd: app, env, encoding: 'utf8' },
  );
  return { app, r };
}
/** The lines the install script printed. */
const said = (r) =>
  `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('flatstream: '));
/** Runs `code` with node in `app`: its stdout, or the error. */
function inApp(app, env, args) {
  const r = spawnSync(process.execPath, args, { cwd: app, env, encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, out: `${r.stdout}${r.stderr}`.slice(-1500) };
  return { ok: true, out: r.stdout.trim() };
}
const cjsCheck = `
  const f = require('flatstream');
  const sink = new f.MemorySink();
  const w = new f.StreamWriter(sink, new f.ChecksumFramer(f.XxHash64));
  w.writePayload(Buffer.from('packed')); w.close();
  let got = '';
  new f.StreamReader(sink.toBuffer(), new f.ChecksumDeframer(f.XxHash64)).processAll((p) => { got += Buffer.from(p); });
  if (got !== 'packed') throw new Error('round trip failed');
  if (f.Crc32.compute(Buffer.from('123456789')) !== 0xcbf43926) throw new Error('crc32 KAT');
  console.log(JSON.stringify({ native: f.native, impl: f.XxHash64.impl }));
`;

// 1. The matching prebuild, no compiler, the install script not approved:
// nothing runs at install, the prebuild is found at load.
{
  const { app, r } = install('app', join(dir, packed.filename), noCompiler, false);
  check(
    '1. prebuild, no compiler, script not approved: the install exits 0',
    r.status === 0,
    r.stderr.slice(-1500),
  );
  const cjs = inApp(app, noCompiler, ['-e', cjsCheck]);
  check(
    '1. CommonJS: the native addon loads and round-trips',
    cjs.ok && JSON.parse(cjs.out).native === true,
    cjs.out,
  );
  const esm = inApp(app, noCompiler, [
    '--input-type=module',
    '-e',
    `import { native, Crc32 } from 'flatstream'; if (!native) throw new Error('esm: no native'); console.log(Crc32.compute(Buffer.from('123456789')).toString(16));`,
  ]);
  check('1. ESM: the native addon loads', esm.ok && esm.out === 'cbf43926', esm.out);

  // 4. npm rebuild, now with a compiler, once the script is approved.
  const approve = spawnSync(join(bin, 'npm'), ['install-scripts', 'approve', 'flatstream'], {
    cwd: app,
    env: withCompiler,
    encoding: 'utf8',
  });
  const npmMajor = Number(run('npm', ['--version']).split('.')[0]);
  // npm before 11 has no approvals (and runs every install script).
  if (npmMajor >= 11)
    check('4. npm install-scripts approve flatstream', approve.status === 0, approve.stderr);
  const rb = spawnSync(join(bin, 'npm'), ['rebuild', ...scriptFlags, 'flatstream'], {
    cwd: app,
    env: withCompiler,
    encoding: 'utf8',
  });
  const rl = said(rb);
  check(
    '4. npm rebuild flatstream builds from source, in one line',
    rb.status === 0 &&
      rl.length === 1 &&
      rl[0] ===
        'flatstream: building the native addon from source (rebuild): built it from source with node-gyp (build/Release/flatstream.node)' &&
      existsSync(join(app, 'node_modules', 'flatstream', 'build', 'Release', 'flatstream.node')),
    rl.join(' | ') || rb.stderr.slice(-1500),
  );
  const after = inApp(app, noCompiler, ['-e', cjsCheck]);
  check('4. the rebuilt addon loads', after.ok && JSON.parse(after.out).native === true, after.out);
}

// 2. No prebuild for this platform, no compiler.
{
  const { app, r } = install('app-bare', bareTgz, noCompiler, true);
  const lines = said(r);
  check('2. no prebuild, no compiler: the install exits 0', r.status === 0, r.stderr.slice(-1500));
  check(
    '2. one line: the TypeScript engine is in use, and how to get a native build',
    lines.length === 1 &&
      lines[0].includes(`no prebuilt native addon loads on ${here}`) &&
      lines[0].includes('lacks a C++ compiler, make, python3') &&
      lines[0].includes('the TypeScript engine is in use') &&
      lines[0].includes('apt-get install g++ make python3') &&
      lines[0].includes('npm rebuild flatstream'),
    lines.join(' | '),
  );
  const js = inApp(app, { ...noCompiler, NODE_NO_WARNINGS: '1' }, ['-e', cjsCheck]);
  check(
    '2. the package loads and round-trips on the TypeScript engine',
    js.ok && JSON.parse(js.out).native === false && JSON.parse(js.out).impl === 'js',
    js.out,
  );
  // The agent still runs: a CaptureSink in portable mode, said once; its
  // frames are in the file when the process exits without closing it.
  const cap = spawnSync(
    process.execPath,
    [
      '-e',
      `const f = require('flatstream');
      const s = new f.CaptureSink('cap.fst');
      const w = new f.StreamWriter(s, new f.ChecksumFramer(f.XxHash64));
      for (let i = 0; i < 1000; i++) w.writePayload(Buffer.from('event ' + i));
      new f.CaptureSink('other.fst');
      console.log(s.captureMode, s.guarantees.processDeath);`,
    ],
    { cwd: app, env: noCompiler, encoding: 'utf8' },
  );
  const capRead = inApp(app, { ...noCompiler, NODE_NO_WARNINGS: '1' }, [
    '-e',
    `const f = require('flatstream');
    console.log(new f.StreamReader('cap.fst', new f.ChecksumDeframer(f.XxHash64)).processAll(() => {}));`,
  ]);
  check(
    '2. CaptureSink runs in portable mode (one warning for two sinks); 1000 frames in the file at exit',
    cap.status === 0 &&
      cap.stdout.trim() === 'portable false' &&
      (cap.stderr.match(/\[FLATSTREAM_CAPTURE_PORTABLE\]/g) ?? []).length === 1 &&
      capRead.ok &&
      capRead.out === '1000',
    `${cap.stdout}${cap.stderr}`.slice(-1500) + capRead.out,
  );
}

// 3. No prebuild for this platform, a compiler.
{
  const { app, r } = install('app-build', bareTgz, withCompiler, true);
  const lines = said(r);
  check('3. no prebuild, a compiler: the install exits 0', r.status === 0, r.stderr.slice(-1500));
  check(
    '3. one line: built from source',
    lines.length === 1 &&
      lines[0] ===
        `flatstream: no prebuilt native addon loads on ${here}: built it from source with node-gyp (build/Release/flatstream.node)`,
    lines.join(' | '),
  );
  const built = inApp(app, noCompiler, ['-e', cjsCheck]);
  check('3. the built addon loads', built.ok && JSON.parse(built.out).native === true, built.out);
}

// 5. No prebuild, a compiler that fails: the install still exits 0.
{
  const broken = { ...withCompiler, CC: '/bin/false', CXX: '/bin/false' };
  const { app, r } = install('app-broken', bareTgz, broken, true);
  const lines = said(r);
  check(
    '5. no prebuild, a failing compiler: the install exits 0',
    r.status === 0,
    r.stderr.slice(-1500),
  );
  const m = /the build failed \(its output: (\S+)\); the TypeScript engine is in use/.exec(
    lines[0] ?? '',
  );
  check(
    '5. one line: the build failed, where its output is, the TypeScript engine is in use',
    lines.length === 1 && m !== null && existsSync(m[1]),
    lines.join(' | '),
  );
  if (m) rmSync(m[1], { force: true });
  const js = inApp(app, { ...noCompiler, NODE_NO_WARNINGS: '1' }, ['-e', cjsCheck]);
  check(
    '5. the package loads on the TypeScript engine',
    js.ok && JSON.parse(js.out).native === false,
    js.out,
  );
}

rmSync(dir, { recursive: true, force: true });
done();
