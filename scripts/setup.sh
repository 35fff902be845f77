#!/usr/bin/env bash
# Sets up a fresh clone: the Debian packages the native build and the tests
# need (headers only at run time: nothing is linked from them), the npm
# dependencies, and the build (addon + TypeScript). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh

apt_install setup cmake libflatbuffers-dev libxxhash-dev flatbuffers-compiler xxhash clang-14 libclang-rt-14-dev nats-server

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
