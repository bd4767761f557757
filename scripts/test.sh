#!/bin/sh
# Quick start 2: installs what is missing, builds quire twice (plain, and with ASan+UBSan), runs
# the whole test suite (unit and CLI scenarios) in both builds and the unit tests under valgrind,
# a short crash and fault soak, then the fuzzers (a third build, with clang) for a fixed number
# of runs.
set -u
cd "$(dirname "$0")/.."
sh scripts/setup.sh || exit 1
rc=0
sh scripts/build.sh build || exit 1
meson test -C build --print-errorlogs --num-processes 2 || rc=1
# The unit tests under valgrind (memcheck; definite leaks are errors): what ASan cannot see
# through the uninstrumented libraries (jansson). The CLI scenarios too: scripts/valgrind.sh.
meson test -C build --setup valgrind --suite unit --print-errorlogs --num-processes 2 || rc=1
# A short crash and fault soak (the long one is scripts/soak.sh): 50 kills, 2 full disks.
python3 scripts/soak.py build/cli/quire --kills 50 --disk 2 --seed 1 \
	--junit build/soak-junit.xml || rc=1
sh scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dbuildtype=debug || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 || rc=1
# The fuzzers (clang, ASan+UBSan) for a fixed number of runs from a fixed seed, one test each.
sh scripts/fuzz.sh --ci || rc=1
python3 scripts/summary.py build/meson-logs/testlog.junit.xml \
	build/meson-logs/testlog-valgrind.junit.xml build-asan/meson-logs/testlog.junit.xml \
	build/soak-junit.xml build-fuzz/fuzz-junit.xml
exit $rc
