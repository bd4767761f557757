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

# The lock held by something other than the quire its description names (that one exited):
# the message says so instead of naming a process that is gone.
setsid flock .quire/lock sleep 30 &
holder=$!
for _ in $(seq 50); do flock -n .quire/lock true 2>/dev/null || break; sleep 0.1; done
echo "x" >>prompts/chapter.md
run_q "a run while another program holds the lock" 4 run
check "it does not claim that the exited quire holds it" err_lacks "another quire is writing"
check "it says the named quire has exited" err_has "has exited"
check "and how to find the holder" err_has "fuser -v"
kill -- -"$holder" 2>/dev/null || kill "$holder"
wait "$holder" 2>/dev/null
run_q "once it lets go, the run goes through" 0 run
done_testing
