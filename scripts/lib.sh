# Shared setup for scripts/*.sh (sourced, not run): repository root, parallelism, ccache.
# SLUICE_JOBS (default 2: CI has 2 cores) sets build and ctest parallelism.
# SLUICE_CCACHE=0 turns ccache off.

SLUICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLUICE_JOBS="${SLUICE_JOBS:-2}"

# ccache makes rebuilds (and CI runs on a machine that built the same sources before) much
# faster. CMake picks the launcher up from the environment when a build tree is first
# configured; BASEDIR/NOHASHDIR let two clones at different paths share cache entries.
if [[ -z "${CCACHE_DIR:-}" ]]; then
  if [[ -n "${HOME:-}" ]]; then
    export CCACHE_DIR="$HOME/.cache/ccache"
  else
    export CCACHE_DIR="$SLUICE_ROOT/build/ccache"
  fi
fi
if [[ "${SLUICE_CCACHE:-1}" != 0 ]] && command -v ccache >/dev/null &&
   mkdir -p "$CCACHE_DIR" 2>/dev/null && [[ -w "$CCACHE_DIR" ]]; then
  export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}"
  export CMAKE_C_COMPILER_LAUNCHER="${CMAKE_C_COMPILER_LAUNCHER:-ccache}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$SLUICE_ROOT}"
  export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
fi

sluice_log() {
  printf '\n==> %s\n' "$*"
}
