#!/usr/bin/env bash
# The whole check, as CI runs it (.ci/run): install missing packages, then
#   dev     build the dev preset (warnings are errors) and run ctest
#   asan    build the asan preset (ASan + UBSan) and run ctest again
#   format  clang-format --dry-run --Werror over the tracked C++ sources
#   fuzz    (not by default) build the libFuzzer targets with clang, run each briefly
# Every stage runs even if an earlier one failed (the asan build is skipped when the dev build
# failed); the exit status is 1 if any stage failed.
#
#   scripts/test.sh                        all default stages
#   scripts/test.sh dev format             only these stages
#   scripts/test.sh dev -- -R py_          extra ctest arguments after --
# Environment: SLUICE_JOBS (default 2), SLUICE_TEST_STAGES (default "dev asan format"),
# SLUICE_FUZZ_SECONDS (fuzz stage, default 30 per target), SLUICE_CCACHE=0.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SLUICE_ROOT"

stages=()
ctest_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --) shift; ctest_args=("$@"); break ;;
    dev|asan|format|fuzz) stages+=("$1") ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument $1 (stages: dev asan format fuzz)" >&2; exit 2 ;;
  esac
  shift
done
if [[ ${#stages[@]} -eq 0 ]]; then
  read -r -a stages <<<"${SLUICE_TEST_STAGES:-dev asan format}"
fi

started=$SECONDS
declare -A result
failed=0
fail() {  # stage, message
  result[$1]="FAILED: $2"
  failed=1
}

sluice_log "deps"
if ! bash scripts/deps.sh || ! bash scripts/npm-deps.sh; then
  echo "test.sh: installing packages failed" >&2
  exit 1
fi
echo "cmake $(cmake --version | head -1 | awk '{print $3}'), $(c++ --version | head -1)," \
  "ninja $(ninja --version), $SLUICE_JOBS jobs, CI=${CI:-}"

ulimit -c 0 || true  # abort_on_error would otherwise leave core files behind

# build_and_test PRESET [env assignments for ctest...]
build_and_test() {
  local preset=$1
  shift
  local t0=$SECONDS log="build/ctest-$preset.log"
  sluice_log "$preset: configure"
  if ! cmake --preset "$preset"; then
    fail "$preset" "configure"
    return 1
  fi
  sluice_log "$preset: build"
  if ! cmake --build --preset "$preset" --parallel "$SLUICE_JOBS"; then
    fail "$preset" "build"
    return 1
  fi
  sluice_log "$preset: ctest"
  mkdir -p build
  # --no-tests=error: a suite that found no tests must not pass. Tests without a TIMEOUT
  # property get 600 s.
  env "$@" ctest --test-dir "build/$preset" --output-on-failure --parallel "$SLUICE_JOBS" \
    --no-tests=error --timeout 600 "${ctest_args[@]}" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local summary
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -1)
  if [[ $rc -ne 0 ]]; then
    fail "$preset" "ctest exit $rc${summary:+ ($summary)}"
  else
    result[$preset]="ok: $summary ($((SECONDS - t0)) s)"
  fi
  return 0
}

dev_build_failed=0
for stage in "${stages[@]}"; do
  case "$stage" in
    dev)
      if ! build_and_test dev; then dev_build_failed=1; fi
      ;;
    asan)
      if [[ $dev_build_failed -eq 1 ]]; then
        fail asan "skipped: the dev build failed"
        continue
      fi
      build_and_test asan \
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
      ;;
    format)
      sluice_log "format"
      if bash scripts/format.sh --check; then
        result[format]="ok"
      else
        fail format "clang-format check (run scripts/format.sh)"
      fi
      ;;
    fuzz)
      sluice_log "fuzz"
      if bash scripts/fuzz.sh "${SLUICE_FUZZ_SECONDS:-30}"; then
        result[fuzz]="ok"
      else
        fail fuzz "see the fuzz output above"
      fi
      ;;
  esac
done

sluice_log "summary ($((SECONDS - started)) s)"
for stage in "${stages[@]}"; do
  printf '  %-7s %s\n' "$stage" "${result[$stage]:-not run}"
done
if [[ $failed -ne 0 ]]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all stages passed"
