// Preloaded (node --require) into Node for another architecture running
// under qemu-user (scripts/cross-arm64.mjs; docs/design.md, "Platforms"):
// this machine cannot exec that Node's binary directly (no binfmt handler),
// so a test that spawns process.execPath (the SIGKILL trials) has the spawn
// go through the emulator named by FLATSTREAM_QEMU (a JSON argv prefix).
// Test harness only; never part of the package.
'use strict';
const cp = require('node:child_process');

const prefix = JSON.parse(process.env.FLATSTREAM_QEMU || '[]');
if (prefix.length > 0) {
  const wrap = (fn) =>
    function wrapped(file, args, ...rest) {
      if (file === process.execPath) {
        return fn.call(
          this,
          prefix[0],
          [...prefix.slice(1), file, ...(Array.isArray(args) ? args : [])],
          ...(Array.isArray(args) ? rest : [args, ...rest].filter((x) => x !== undefined)),
        );
      }
      return fn.call(this, file, args, ...rest);
    };
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync']) cp[name] = wrap(cp[name]);
}
