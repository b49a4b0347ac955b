#!/usr/bin/env bash
# Installs missing Debian packages, builds the release preset and starts sluice-server in the
# foreground with config/sluice.conf. Extra arguments go to the server as overrides:
#   scripts/run.sh                      # config/sluice.conf as it is
#   scripts/run.sh --port 7000 --dir /tmp/sluice
# SLUICE_CONFIG=path picks another config file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SLUICE_ROOT"

bash scripts/deps.sh
sluice_log "configure + build (release)"
cmake --preset release
cmake --build --preset release --parallel "$(nproc)"

config="${SLUICE_CONFIG:-config/sluice.conf}"
if [[ ! -f "$config" ]]; then
  echo "run.sh: config file $config not found" >&2
  exit 1
fi

# The port the server will listen on: a --port override, else the config's `port`, else 6379.
port=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ "${args[$i]}" == "--port" && $((i + 1)) -lt ${#args[@]} ]]; then
    port="${args[$((i + 1))]}"
  fi
done
if [[ -z "$port" ]]; then
  port=$(awk '$1 == "port" { p = $2 } END { print p }' "$config")
fi
port="${port:-6379}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "run.sh: something already listens on 127.0.0.1:$port (Debian's redis-server service?)." >&2
  echo "run.sh: stop it (service redis-server stop) or pick a port: scripts/run.sh --port 7000" >&2
  exit 1
fi

sluice_log "build/release/sluice-server $config $*"
exec build/release/sluice-server "$config" "$@"
