#!/bin/sh
# Runs the libFuzzer harnesses of tests/fuzz (built with clang, ASan and UBSan in build-fuzz/),
# two at a time, each on a copy of its seed corpus: the committed corpus never grows by itself.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 60)
#   scripts/fuzz.sh --ci [TARGET...]        each target for a fixed number of runs from a fixed
#                                           seed (deterministic: CI never fails on a finding
#                                           that is new to this run), with a JUnit report in
#                                           build-fuzz/fuzz-junit.xml
#
# One line per target; a crash, leak, timeout or sanitizer report fails the target, and the
# line names the input that did it (kept, with the log, under the scratch directory printed).
set -u
cd "$(dirname "$0")/.."

ALL="manifest yaml blueprint inputs project template external openai replicate"
CI_RUNS=50000 # per target: about a minute for all of them, two at a time on two cores
JOBS=2

# One target (run by xargs below): fuzz-TARGET on a copy of its corpus, a result line in
# $scratch/TARGET/result.
if [ "${1:-}" = "--one" ]; then
	mode=$2 scratch=$3 t=$4
	d="$scratch/$t"
	mkdir -p "$d/corpus" "$d/tmp"
	cp tests/fuzz/corpus/"$t"/* "$d/corpus/"
	norand=""
	if [ "$mode" = ci ]; then
		# The same runs every time: a fixed seed, no rereading of the corpus on a timer,
		# and (where the system allows it) no address randomisation, since compared
		# pointers feed libFuzzer's mutations.
		limit="-runs=$CI_RUNS -seed=1 -reload=0"
		setarch "$(uname -m)" -R true 2>/dev/null && norand="setarch $(uname -m) -R"
	else
		limit="-max_total_time=$mode"
	fi
	start=$(date +%s)
	# The harness's own files go to tmp/ (TMPDIR); what it finds, to the corpus's copy.
	# shellcheck disable=SC2086
	TMPDIR="$d/tmp" UBSAN_OPTIONS=print_stacktrace=1 \
		$norand build-fuzz/tests/fuzz/fuzz-"$t" $limit -timeout=30 -rss_limit_mb=2048 \
		-artifact_prefix="$d/" -print_final_stats=1 "$d/corpus" >"$d/log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	found=$(ls "$d" | grep -E '^(crash|leak|timeout|oom)-' | head -n 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log")
	cov=$(grep -E '^#[0-9]+' "$d/log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		line="fuzz: $t: ok, ${runs:-?} runs in $secs s (coverage ${cov:-?})"
		echo "ok $secs $line" >"$d/result"
	else
		what=$(sed -n 's/^SUMMARY: //p' "$d/log" | head -n 1)
		line="fuzz: $t: FAILED (${what:-exit $rc}), input ${found:+$d/$found}, log $d/log"
		echo "FAIL $secs $line" >"$d/result"
	fi
	echo "$line"
	exit 0
fi

mode=60
if [ "${1:-}" = "--ci" ]; then
	mode=ci
	shift
elif [ $# -gt 0 ] && [ "$1" -eq "$1" ] 2>/dev/null; then
	mode=$1
	shift
fi
targets=${*:-$ALL}
for t in $targets; do
	if [ ! -d "tests/fuzz/corpus/$t" ]; then
		echo "fuzz: unknown target '$t' (targets: $ALL)" >&2
		exit 2
	fi
done

junit=build-fuzz/fuzz-junit.xml
# A report left from an earlier run must not stand for this one.
[ "$mode" = ci ] && rm -f "$junit"
xml_escape() {
	printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

sh scripts/setup.sh || exit 1
if ! CC=clang sh scripts/build.sh build-fuzz -Dfuzz=true -Dtests=false -Db_lundef=false; then
	echo "fuzz: the fuzz build failed" >&2
	if [ "$mode" = ci ] && mkdir -p build-fuzz; then
		printf '<testsuites><testsuite name="fuzz" tests="1" failures="1"><testcase classname="fuzz" name="build"><failure message="the fuzz build failed"/></testcase></testsuite></testsuites>\n' >"$junit"
	fi
	exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/quire-fuzz.XXXXXX") || exit 1
if [ "$mode" = ci ]; then
	echo "fuzz: $CI_RUNS runs per target from seed 1, $JOBS at a time" >&2
else
	echo "fuzz: $mode s per target, $JOBS at a time" >&2
fi
# shellcheck disable=SC2086
printf '%s\n' $targets | xargs -P "$JOBS" -n 1 sh "$0" --one "$mode" "$scratch"

failed=0
cases=""
for t in $targets; do
	r=$(cat "$scratch/$t/result" 2>/dev/null || echo "FAIL 0 fuzz: $t: did not run")
	# shellcheck disable=SC2086
	set -- $r
	status=$1 secs=$2
	shift 2
	[ -f "$scratch/$t/result" ] || echo "$*"
	if [ "$status" = ok ]; then
		cases="$cases<testcase classname=\"fuzz\" name=\"$t\" time=\"$secs\"/>"
	else
		failed=$((failed + 1))
		cases="$cases<testcase classname=\"fuzz\" name=\"$t\" time=\"$secs\"><failure message=\"$(xml_escape "$*")\"/></testcase>"
	fi
done
if [ "$mode" = ci ]; then
	n=$(echo $targets | wc -w)
	printf '<testsuites><testsuite name="fuzz" tests="%s" failures="%s">%s</testsuite></testsuites>\n' \
		"$n" "$failed" "$cases" >"$junit"
fi
if [ "$failed" -gt 0 ]; then
	echo "fuzz: $failed of $(echo $targets | wc -w) targets failed; inputs and logs are under $scratch" >&2
	exit 1
fi
rm -rf "$scratch"
exit 0
