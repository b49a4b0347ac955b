#!/usr/bin/env bash
# Installs the Debian 12 packages Sluice needs to build, test and run. Idempotent: checks each
# package with dpkg-query and calls apt-get (update + install) only when something is missing.
#
#   scripts/deps.sh            install what is missing
#   scripts/deps.sh --check    only report what is missing (exit 1 if anything is)
set -euo pipefail

PACKAGES=(
  # toolchain and build
  build-essential cmake ninja-build pkg-config ccache git
  clang clang-format
  # libraries (DESIGN.md: libuv, flatbuffers, spdlog, doctest)
  libuv1-dev libflatbuffers-dev flatbuffers-compiler libspdlog-dev libfmt-dev doctest-dev
  libhiredis-dev
  # TLS (tls-port, metrics-tls); the openssl CLI makes the test certificates
  libssl-dev openssl
  # Lua scripting: PUC Lua 5.1 and the cjson and bit modules Redis scripts expect
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
  # reference server, redis-cli and redis-py for the integration and differential tests
  redis-server redis-tools python3 python3-redis
  # Redis Sentinel fails a Sluice master over in the replication tests
  redis-sentinel
  # job-queue frameworks the integration tests run against the server (BullMQ comes from npm:
  # scripts/npm-deps.sh)
  python3-rq python3-celery ruby-sidekiq
  # compressed sealed stream segments (zstd)
  libzstd-dev
  # the web console's browser test: headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done
# node and npm run the ioredis and BullMQ tests (scripts/npm-deps.sh installs their packages).
# Any node with npm will do (a machine may have one from elsewhere): Debian's only if there is
# none, so an existing install is never replaced.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#PACKAGES[@]} packages present (and node, npm)"
  exit 0
fi

echo "deps: missing: ${missing[*]}"
if [[ "${1:-}" == "--check" ]]; then
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "deps: not root and no sudo; install the packages above by hand" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# Installing redis-server would start Debian's own redis on 6379, the port sluice-server uses by
# default. While we install, a temporary policy-rc.d tells invoke-rc.d/deb-systemd-invoke not to
# start services (the standard Debian mechanism; an existing policy-rc.d is left alone).
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  own_policy=1
fi
cleanup() {
  if [[ $own_policy -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
trap cleanup EXIT

APT_OPTS=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
for attempt in 1 2 3; do
  if "${SUDO[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 &&
     "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" --no-install-recommends "${missing[@]}"; then
    echo "deps: installed ${missing[*]}"
    exit 0
  fi
  echo "deps: apt-get failed (attempt $attempt), retrying in 10 s" >&2
  sleep 10
done
echo "deps: could not install ${missing[*]}" >&2
exit 1
