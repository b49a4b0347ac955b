"""ctest entry for the differential tester: every tests/integration/cases/*.txt against a fresh
reference redis-server and the candidate $SLUICE_SERVER, under RESP2 and RESP3. Prints one
PASS/FAIL line per case and protocol and the closing line `N passed, M failed`.
Arguments are passed on to redis_diff.py (e.g. --only connection, -v)."""

import sys

import redis_diff

if __name__ == "__main__":
    sys.exit(redis_diff.main(sys.argv[1:]))
