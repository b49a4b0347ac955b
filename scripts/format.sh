#!/usr/bin/env bash
# clang-format over the tracked C++ sources (*.h, *.cc in wire broker client examples tests),
# with the root .clang-format.
#   scripts/format.sh           reformat in place
#   scripts/format.sh --check   change nothing; exit 1 and list the files that need formatting
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SLUICE_ROOT"

mode="${1:-fix}"
dirs=(wire broker client examples tests)

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [[ -f "$f" ]] && files+=("$f")  # skip files deleted in the work tree but still in the index
  done < <(git ls-files -z -- "${dirs[@]}" | grep -zE '\.(h|cc)$' || true)
else
  while IFS= read -r -d '' f; do files+=("$f"); done \
    < <(find "${dirs[@]}" -type f \( -name '*.h' -o -name '*.cc' \) -print0 2>/dev/null || true)
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "format: no tracked C++ files"
  exit 0
fi

if [[ "$mode" != "--check" ]]; then
  printf '%s\0' "${files[@]}" | xargs -0 -n 50 clang-format -i
  echo "format: formatted ${#files[@]} files ($(clang-format --version))"
  exit 0
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT
if printf '%s\0' "${files[@]}" | xargs -0 -n 50 -P "$SLUICE_JOBS" \
    clang-format --dry-run --Werror >"$report" 2>&1; then
  echo "format: ${#files[@]} files ok ($(clang-format --version))"
  exit 0
fi
bad=$(grep -oE '^[^:]+\.(h|cc):[0-9]+:[0-9]+: error' "$report" | cut -d: -f1 | sort -u || true)
echo "format: these files differ from clang-format's output ($(clang-format --version)):"
printf '  %s\n' $bad
echo "format: first lines of the report:"
head -n 60 "$report"
echo "format: run scripts/format.sh to fix them"
exit 1
