// Preloaded (node --require) into Node for another architecture running
// under qemu-user (scripts/cross-arm64.mjs; docs/design.md, "Platforms"):
// this machine cannot exec that Node's binary directly (no binfmt handler),
// so wherever a test spawns process.execPath, as the command or as an
// argument (`sh -c ... "$0"`), it gets FLATSTREAM_QEMU_NODE instead: a
// script that runs the same Node through the emulator. Test harness only;
// never part of the package.
'use strict';
const cp = require('node:child_process');

const wrapper = process.env.FLATSTREAM_QEMU_NODE;
if (wrapper) {
  const swap = (x) => (x === process.execPath ? wrapper : x);
  const wrap = (fn) =>
    function wrapped(file, args, ...rest) {
      return fn.call(this, swap(file), Array.isArray(args) ? args.map(swap) : args, ...rest);
    };
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync']) cp[name] = wrap(cp[name]);
}
