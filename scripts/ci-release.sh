#!/bin/sh
# The steps of the public release workflow (.github/workflows/release.yml;
# RELEASING.md; docs/design.md, "Release workflow") that run in a Linux
# container, as root, in a copy of the checkout. POSIX sh: Alpine starts
# without bash.
#   prebuild   (node:20-bookworm or node:20-alpine, on a runner of the
#              target's architecture): install the build dependencies,
#              build, prebuildify, ctest, then with the prebuild alone (no
#              build/): scripts/smoke.cjs and the whole jest suite in both
#              engine modes.
#   assemble   (node:20-bookworm, prebuilds/ holding every job's output):
#              scripts/pack-test.mjs on a tarball with all seven prebuilds,
#              then npm pack into out/.
#   check-tag TAG TGZ: fails unless TAG is "v" + the tarball's version.
set -eu
cd "$(dirname "$0")/.."

# Every prebuild a release ships: platform-arch, and the libc on Linux.
TARGETS="linux-x64:glibc linux-x64:musl linux-arm64:glibc linux-arm64:musl darwin-x64 darwin-arm64 win32-x64"

case "${1:-}" in
prebuild)
  if command -v apk >/dev/null 2>&1; then
    apk add --no-cache bash g++ make cmake python3 xxhash-dev flatbuffers-dev flatbuffers util-linux
    npm ci --no-audit --no-fund
    npm run build
  else
    bash scripts/setup.sh
  fi
  npx prebuildify --napi --strip --tag-libc
  node scripts/ctest.mjs
  rm -rf build
  PREBUILDS_ONLY=1 node scripts/smoke.cjs .
  FLATSTREAM_NATIVE=1 PREBUILDS_ONLY=1 npx jest --ci
  FLATSTREAM_NATIVE=0 npx jest --ci
  ;;
assemble)
  bash scripts/setup.sh
  bash scripts/setup-nodes.sh
  PACK_TEST_PREBUILDS="$TARGETS" node scripts/pack-test.mjs
  mkdir -p out
  npm pack --pack-destination out
  ;;
check-tag)
  tag="$2"
  version="$(tar xzf "$3" package/package.json -O | node -p "JSON.parse(require('fs').readFileSync(0, 'utf8')).version")"
  if [ "$tag" != "v$version" ]; then
    echo "ci-release: the tag $tag is not the package's version v$version" >&2
    exit 1
  fi
  ;;
*)
  echo "usage: sh scripts/ci-release.sh prebuild | assemble | check-tag TAG TGZ" >&2
  exit 2
  ;;
esac
