#!/usr/bin/env bash
# Installs the Node.js packages the framework integration tests drive (BullMQ, ioredis) into
# build/node from tests/integration/frameworks/node/package-lock.json (`npm ci`, exact versions).
# Idempotent: skips the install when build/node already holds that lock file's packages.
# Node.js and npm come with the machine (Debian's nodejs conflicts with the installed one).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
src="$SLUICE_ROOT/tests/integration/frameworks/node"
dest="$SLUICE_ROOT/build/node"
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "npm-deps: node and npm are not installed" >&2
  exit 1
fi
mkdir -p "$dest"
stamp="$dest/.installed-lock"
if [[ -f "$stamp" && -d "$dest/node_modules" ]] && cmp -s "$stamp" "$src/package-lock.json"; then
  echo "npm-deps: up to date ($(node --version))"
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
for attempt in 1 2 3; do
  if (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error); then
    cp "$src/package-lock.json" "$stamp"
    echo "npm-deps: installed into $dest"
    exit 0
  fi
  echo "npm-deps: npm ci failed (attempt $attempt), retrying in 10 s" >&2
  sleep 10
done
echo "npm-deps: could not install the Node.js packages" >&2
exit 1
