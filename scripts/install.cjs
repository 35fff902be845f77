#!/usr/bin/env node
// The package's install script (package.json "install"; docs/design.md,
// "Platforms"). It never fails the install: every path ends with exit 0
// and ONE line starting "flatstream:" that says what it did.
//   - A prebuilt addon for this platform that loads: nothing to build.
//   - None (or `npm rebuild flatstream`, or --build-from-source): builds from
//     source with node-gyp when a C++ compiler, make and Python are there,
//     with node-addon-api's headers (a devDependency, installed into a
//     temporary prefix when Node cannot resolve it from here); the build's
//     output goes to a log file, named if it fails.
//   - No toolchain, or the build failed: says which packages give a native
//     build on this OS and that the TypeScript engine is in use.
// In a development checkout (lib/*.ts present) it does nothing: `npm run
// build` builds there.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const target = `${process.platform}-${process.arch}`;
const say = (line) => console.log(`flatstream: ${line}`);

const HOW = {
  linux:
    'Debian/Ubuntu: apt-get install g++ make python3 libxxhash-dev libflatbuffers-dev; ' +
    'Alpine: apk add g++ make python3 xxhash-dev flatbuffers-dev; ' +
    'Fedora/RHEL: dnf install gcc-c++ make python3 xxhash-devel flatbuffers-devel',
  darwin: 'macOS: xcode-select --install, then brew install xxhash flatbuffers',
  win32:
    'Windows: Visual Studio Build Tools ("Desktop development with C++"), Python 3, ' +
    'and the xxhash and flatbuffers headers on INCLUDE',
};
const howTo = () =>
  `for a native build install ${HOW[process.platform] ?? HOW.linux}, then run npm rebuild flatstream`;

/** The addon node-gyp-build would load, and whether it loads here. */
function loadable(prebuildsOnly) {
  const saved = process.env.PREBUILDS_ONLY;
  if (prebuildsOnly) process.env.PREBUILDS_ONLY = '1';
  else delete process.env.PREBUILDS_ONLY;
  // node-gyp-build reads PREBUILDS_ONLY when it is loaded: a fresh copy.
  for (const key of Object.keys(require.cache))
    if (key.includes(`${path.sep}node-gyp-build${path.sep}`)) delete require.cache[key];
  try {
    const file = require('node-gyp-build').resolve(root);
    require(file);
    return { file, error: null };
  } catch (err) {
    return { file: null, error: err };
  } finally {
    if (saved === undefined) delete process.env.PREBUILDS_ONLY;
    else process.env.PREBUILDS_ONLY = saved;
  }
}

/** First of `names` found on PATH (or given as an absolute path). */
function which(names) {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const name of names) {
    if (!name) continue;
    const bare = name.split(' ')[0];
    if (path.isAbsolute(bare)) {
      if (fs.existsSync(bare)) return bare;
      continue;
    }
    for (const dir of dirs)
      for (const ext of exts)
        if (fs.existsSync(path.join(dir, bare + ext))) return path.join(dir, bare + ext);
  }
  return null;
}

/** What a source build lacks here (empty: it can be tried). */
function missingTools() {
  if (process.platform === 'win32') return which(['python', 'python3', 'py']) ? [] : ['python3'];
  const missing = [];
  if (!which([process.env.CXX, 'c++', 'g++', 'clang++'])) missing.push('a C++ compiler');
  if (!which(['make', 'gmake'])) missing.push('make');
  if (!which([process.env.PYTHON, 'python3', 'python'])) missing.push('python3');
  // The two header-only libraries the native core includes (binding.gyp
  // takes them from the compiler's default include path).
  const dirs = [
    ...`${process.env.CPATH ?? ''}:${process.env.CPLUS_INCLUDE_PATH ?? ''}`.split(':'),
    '/usr/include',
    '/usr/local/include',
    '/opt/homebrew/include',
  ].filter(Boolean);
  const header = (f) => dirs.some((d) => fs.existsSync(path.join(d, f)));
  if (!header('xxhash.h')) missing.push('the xxhash headers');
  if (!header(path.join('flatbuffers', 'flatbuffers.h'))) missing.push('the flatbuffers headers');
  return missing;
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp), else one installed. */
function nodeGyp() {
  const own = process.env.npm_config_node_gyp;
  if (own && fs.existsSync(own)) return [process.execPath, own];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    const bin = which(['node-gyp']);
    return bin ? [bin] : null;
  }
}

/**
 * Whether `version` satisfies `spec`, for the one form package.json uses for
 * node-addon-api: "^X.Y.Z" (same major, at least X.Y.Z).
 */
function satisfies(version, spec) {
  const want = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(spec ?? '');
  const have = /^(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (!want || !have) return false;
  const [w, h] = [want.slice(1).map(Number), have.slice(1).map(Number)];
  if (h[0] !== w[0]) return false;
  return h[1] > w[1] || (h[1] === w[1] && h[2] >= w[2]);
}

/**
 * node-addon-api's headers for the source build (binding.gyp reads
 * FLATSTREAM_NODE_ADDON_API). It is a devDependency, not a dependency: users
 * with a prebuild never download it (docs/design.md, "Packaging"). One
 * Node resolves from here is used if its version satisfies the range
 * package.json's devDependencies give (a project may hoist an old major
 * that lacks what the addon uses); otherwise npm installs that range into a
 * temporary prefix (npm's own config applies: registry, cache, offline),
 * removed after the build. Returns { dir, tmp } or { why }.
 */
function addonApi(fd) {
  const spec = require(path.join(root, 'package.json')).devDependencies?.['node-addon-api'];
  try {
    const main = require.resolve('node-addon-api', { paths: [root] });
    const { version } = require(path.join(path.dirname(main), 'package.json'));
    if (satisfies(version, spec)) return { dir: path.resolve(require(main).include_dir) };
  } catch {
    // not installed: fetch it below
  }
  const npm = process.env.npm_execpath;
  const cmd =
    npm && /\.c?js$/.test(npm) && fs.existsSync(npm)
      ? [process.execPath, npm]
      : [which(['npm'])].filter(Boolean);
  if (!spec || cmd.length === 0)
    return { why: 'node-addon-api is not installed and npm is not at hand' };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-napi-'));
  const r = spawnSync(
    cmd[0],
    [
      ...cmd.slice(1),
      'install',
      '--prefix',
      tmp,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--location=project',
      `node-addon-api@${spec}`,
    ],
    {
      cwd: tmp,
      // Not the user's global install or workspace (npm passes its own
      // config to scripts): node-addon-api goes into tmp/node_modules.
      env: Object.fromEntries(
        Object.entries(process.env).filter(
          ([k]) => !/^npm_config_(global|location|workspaces?|include_workspace_root)$/i.test(k),
        ),
      ),
      stdio: ['ignore', fd, fd],
      windowsHide: true,
      shell: process.platform === 'win32' && cmd.length === 1,
    },
  );
  try {
    const dir = path.resolve(require(path.join(tmp, 'node_modules', 'node-addon-api')).include_dir);
    if (r.status === 0) return { dir, tmp };
  } catch {
    // reported below
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return { why: `npm could not install node-addon-api@${spec}` };
}

function build() {
  const missing = missingTools();
  const gyp = nodeGyp();
  if (!gyp) missing.push('node-gyp');
  if (missing.length > 0) return { ok: false, why: `this machine lacks ${missing.join(', ')}` };
  // A directory of our own (never a predictable name another user could
  // plant a symlink at), the log created in it.
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-build-')), 'build.log');
  const fd = fs.openSync(log, 'wx');
  const api = addonApi(fd);
  if (!api.dir) {
    fs.closeSync(fd);
    return { ok: false, why: `${api.why} (its output: ${log})` };
  }
  const r = spawnSync(gyp[0], [...gyp.slice(1), 'rebuild'], {
    cwd: root,
    stdio: ['ignore', fd, fd],
    env: { JOBS: '2', ...process.env, FLATSTREAM_NODE_ADDON_API: api.dir },
    windowsHide: true,
  });
  fs.closeSync(fd);
  if (api.tmp) fs.rmSync(api.tmp, { recursive: true, force: true });
  if (r.status !== 0) return { ok: false, why: `the build failed (its output: ${log})` };
  const built = loadable(false);
  if (!built.file) {
    // node-gyp-build prefers build/ to prebuilds/: a build that does not load
    // must not hide a prebuild that does.
    fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
    return { ok: false, why: `the built addon does not load (${built.error.message})` };
  }
  fs.rmSync(path.dirname(log), { recursive: true, force: true });
  return { ok: true, file: built.file };
}

function main() {
  if (fs.existsSync(path.join(root, 'lib', 'index.ts'))) {
    say('development checkout: npm run build builds the addon');
    return;
  }
  const rebuild =
    process.env.npm_command === 'rebuild' ||
    process.env.npm_config_build_from_source === 'true' ||
    process.argv.includes('--build-from-source');
  const pre = loadable(true);
  if (pre.file && !rebuild) {
    say(`using the prebuilt native addon ${path.relative(root, pre.file)}`);
    return;
  }
  const reason = rebuild
    ? 'building the native addon from source (rebuild)'
    : `no prebuilt native addon loads on ${target}`;
  const r = build();
  if (r.ok) {
    say(`${reason}: built it from source with node-gyp (${path.relative(root, r.file)})`);
  } else if (pre.file) {
    say(`${reason}: ${r.why}; keeping the prebuilt addon ${path.relative(root, pre.file)}`);
  } else {
    say(
      `${reason} and ${r.why}; the TypeScript engine is in use (CaptureSink in portable mode: unflushed frames die with a SIGKILL); ${howTo()}`,
    );
  }
}

try {
  main();
} catch (err) {
  say(`install step failed (${err && err.message}); the TypeScript engine is in use; ${howTo()}`);
}
process.exitCode = 0;
