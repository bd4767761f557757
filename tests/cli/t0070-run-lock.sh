#!/bin/bash
# A second writer is refused at once with the holder named, and the store stays intact.
. "$(dirname "$0")/lib.sh"
new_story s
# The holder runs for 11 x 500 ms: long enough to outlast a refused run even under valgrind.
QUIRE_MOCK_LATENCY_MS=500 "$QUIRE" run -j 1 --json >first.out 2>first.err &
pid=$!
for _ in $(seq 100); do grep -q '"event":"start"' first.out 2>/dev/null && break; sleep 0.1; done
start=$(date +%s%N)
run_q "a concurrent run is refused" 4 run
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "it names the holder" err_has "another quire is writing this project (pid $pid, 'quire run'"
# Refused at once: the holder is still running when the refusal comes back (a time limit
# would depend on the machine and on valgrind).
check "it failed at once, not after waiting (${elapsed_ms} ms)" kill -0 "$pid"
run_q "plan still works while the run holds the lock" 0 plan
wait "$pid"
is "the first run finished normally" "$?" 0
check "the first run produced everything" grep -q '"produced":11' first.out
run_q "up to date afterwards" 0 plan --check
done_testing
