// Proves the shipping path: prebuildify makes prebuilds/linux-x64/*.node,
// `npm pack` puts it in the tarball, and the tarball installs into an empty
// project and loads the native addon with no compiler reachable (PATH holds
// only node/npm, CC/CXX point nowhere), in both CommonJS and ESM.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], ...opts }).toString();

run('npx', ['prebuildify', '--napi', '--strip', '--tag-libc']);
const prebuilds = readdirSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`));
console.log(`prebuilds: ${prebuilds.join(', ')}`);
run('npm', ['run', 'build:ts']);

const dir = mkdtempSync(join(tmpdir(), 'flatstream-pack-'));
const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir]))[0];
const files = packed.files.map((f) => f.path);
for (const must of [
  'dist/cjs/index.js',
  'dist/esm/index.mjs',
  'binding.gyp',
  'native/sources.json',
]) {
  if (!files.includes(must)) throw new Error(`tarball lacks ${must}`);
}
if (
  !files.some(
    (f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`) && f.endsWith('.node'),
  )
) {
  throw new Error('tarball lacks a prebuilt binary');
}
if (files.some((f) => f.startsWith('test/') || f.startsWith('build/')))
  throw new Error('tarball carries tests or build output');
console.log(`tarball: ${packed.filename}, ${packed.files.length} files, ${packed.size} bytes`);

const app = join(dir, 'app');
execFileSync('mkdir', [app]);
writeFileSync(
  join(app, 'package.json'),
  '{ "name": "app", "version": "1.0.0", "private": true }\n',
);
// No compiler reachable: PATH is a directory holding only node, npm and sh.
const bin = join(dir, 'bin');
execFileSync('mkdir', [bin]);
const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm']).toString().trim());
symlinkSync(process.execPath, join(bin, 'node'));
symlinkSync(npmCli, join(bin, 'npm'));
symlinkSync('/bin/sh', join(bin, 'sh')); // npm runs lifecycle scripts with sh
const env = {
  HOME: process.env.HOME ?? dir,
  PATH: bin,
  CC: '/nonexistent/cc',
  CXX: '/nonexistent/c++',
  npm_config_update_notifier: 'false',
};
execFileSync(
  join(bin, 'npm'),
  ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed.filename)],
  {
    cwd: app,
    env,
    stdio: 'inherit',
  },
);
const check = `
  const f = require('flatstream');
  if (f.native !== true) throw new Error('native addon did not load: ' + f.nativeError);
  const sink = new f.MemorySink();
  const w = new f.StreamWriter(sink, new f.ChecksumFramer(f.XxHash64));
  w.writePayload(Buffer.from('packed')); w.close();
  let got = '';
  new f.StreamReader(sink.toBuffer(), new f.ChecksumDeframer(f.XxHash64)).processAll((p) => { got += Buffer.from(p); });
  if (got !== 'packed') throw new Error('round trip failed');
  console.log('cjs: native addon loaded from ' + require.resolve('flatstream') + ', XxHash64 impl ' + f.XxHash64.impl);
`;
execFileSync(process.execPath, ['-e', check], { cwd: app, env, stdio: 'inherit' });
const esm = `import { native, Crc32 } from 'flatstream'; if (!native) throw new Error('esm: no native'); console.log('esm: native', native, 'crc32 =', Crc32.compute(Buffer.from('123456789')).toString(16));`;
execFileSync(process.execPath, ['--input-type=module', '-e', esm], {
  cwd: app,
  env,
  stdio: 'inherit',
});
console.log('pack test passed');
