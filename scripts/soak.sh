#!/bin/sh
# Crash and fault soak (scripts/soak.py): random SIGKILLs during runs (-j2 and -j8, mock
# latency, a flaky mock now and then), a full disk on a small tmpfs (where a mount namespace
# can be made), and the promises checked after each. Prints the counts of corrupt states,
# reported-but-lost jobs and redone jobs; exits 1 unless all are zero.
#   scripts/soak.sh [--kills N] [--disk N] [--seed S]     (default 1000 kills, 6 disk rounds)
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
sh scripts/build.sh build >/dev/null
exec python3 scripts/soak.py build/cli/quire "$@"
