#!/bin/bash
# A run killed with SIGKILL part way leaves a valid store; the next run commits what finished
# and re-executes only the unfinished instances. SIGINT commits what finished and exits 130.
. "$(dirname "$0")/lib.sh"
new_story s


kill_part_way 3 "the slow run gets part way"
check "the killed run did not finish" test "$done_before" -lt 11

run_q "plan works on the store the kill left" 0 plan --json
run_q "the next run" 0 run --json
check "it recovered the killed run's revision" grep -q '"revision":"'"$(revfull 2)"'"' "$TRASH/.out"
redone=$(count_events produced)
check "it generated only what was unfinished ($redone <= $((11 - done_before)))" \
	test "$redone" -le $((11 - done_before))
check "and generated something" test "$redone" -ge 1
check "rev-0001 is the recovered partial revision" test -f $(pack 1)
check "the recovered revision holds the finished work" python3 -c '
import json,sys; m=json.load(open("'"$(revjson 1)"'"))
assert m.get("recovered") is True
assert len(m["artefacts"]) >= int(sys.argv[1]), len(m["artefacts"])' "$done_before"
run_q "up to date afterwards" 0 plan --check
run_q "every artefact is clean" 0 inspect --json
check "11 clean artefacts" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [v["status"] for v in d["artefacts"].values()].count("clean")==11' "$TRASH/.out"

# SIGINT: stop starting jobs, cancel running ones, commit what finished, exit 130.
cd "$TRASH" && new_story i
QUIRE_MOCK_LATENCY_MS=200 "$QUIRE" run -j 2 --json >int.out 2>int.err &
pid=$!
check "the interrupted run gets part way" wait_for 2 int.out
kill -INT "$pid"
wait "$pid"
is "SIGINT exits 130" "$?" 130
check "it says what was committed" grep -q "interrupted; what finished was committed as $(rev 1)" int.err
check "the revision is committed" test "$(cat .quire/current)" = "$(revfull 1)"
finished=$(grep -c '"event":"produced"' int.out)
run_q "the next run does only the rest" 0 run --json
is "produced the rest exactly" "$(count_events produced)" $((11 - finished))
run_q "up to date" 0 plan --check

# SIGHUP (a closed terminal) commits what finished, like SIGINT.
cd "$TRASH" && new_story h
QUIRE_MOCK_LATENCY_MS=200 "$QUIRE" run -j 2 --json >hup.out 2>hup.err &
pid=$!
check "the run gets part way" wait_for 2 hup.out
kill -HUP "$pid"
wait "$pid"
is "SIGHUP exits 130" "$?" 130
check "the revision is committed, not left for recovery" test "$(cat .quire/current)" = "$(revfull 1)"
run_q "the next run does not recover anything" 0 run
check "nothing recovered" out_lacks "recovered"
done_testing
