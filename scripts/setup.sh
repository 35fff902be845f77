#!/usr/bin/env bash
# Sets up a fresh clone: the Debian packages the native build and the tests
# need (headers only at run time: nothing is linked from them), the npm
# dependencies, and the build (addon + TypeScript). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(libflatbuffers-dev libxxhash-dev flatbuffers-compiler xxhash clang-14 libclang-rt-14-dev nats-server)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
