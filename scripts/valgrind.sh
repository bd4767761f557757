#!/bin/sh
# Runs the unit tests and the CLI scenarios under valgrind (memcheck; definite leaks are errors).
# Slow: kept out of the default suite.
set -u
cd "$(dirname "$0")/.."
sh scripts/setup.sh || exit 1
sh scripts/build.sh build || exit 1
rc=0
meson test -C build --setup valgrind --suite unit --print-errorlogs --num-processes 2 || rc=1
QUIRE_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect" \
	meson test -C build --suite cli --print-errorlogs --num-processes 2 --timeout-multiplier 10 || rc=1
exit $rc
