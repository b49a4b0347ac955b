#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cc) with clang, ASan and UBSan in build/fuzz
# and runs each for a while. New inputs go to build/fuzz/corpus/NAME; the checked-in seeds in
# tests/fuzz/corpus/NAME are read, never written. Crash inputs land in build/fuzz/.
#   scripts/fuzz.sh                       every target, 60 s each
#   scripts/fuzz.sh 300 resp_request_fuzz one target, 5 minutes
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SLUICE_ROOT"

seconds="${1:-60}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/*_fuzz.cc; do
    [[ -f "$f" ]] && targets+=("$(basename "$f" .cc)")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz: no tests/fuzz/*_fuzz.cc targets"
  exit 0
fi

bash scripts/deps.sh
# Coverage instrumentation for all code (fuzzer-no-link), the fuzzer runtime only in the targets
# (tests/CMakeLists.txt adds -fsanitize=fuzzer to them). Warnings are not errors here: clang
# warns about things gcc does not, and the dev preset is the warnings gate.
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DSLUICE_FUZZ=ON -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=OFF
cmake --build build/fuzz --parallel "$SLUICE_JOBS" --target "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
status=0
for t in "${targets[@]}"; do
  binary=$(find build/fuzz -name "$t" -type f -perm -u+x | head -1)
  if [[ -z "$binary" ]]; then
    echo "fuzz: $t was not built"
    status=1
    continue
  fi
  mkdir -p "build/fuzz/corpus/$t"
  seeds=()
  [[ -d "tests/fuzz/corpus/$t" ]] && seeds=("$SLUICE_ROOT/tests/fuzz/corpus/$t")
  echo "fuzz: $t for $seconds s"
  if ! (cd build/fuzz && "$SLUICE_ROOT/$binary" -max_total_time="$seconds" \
        -print_final_stats=1 "corpus/$t" "${seeds[@]}"); then
    echo "fuzz: $t FAILED (crash input in build/fuzz/)"
    status=1
  fi
done
exit $status
