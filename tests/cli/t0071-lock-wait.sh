#!/bin/bash
# --wait (and QUIRE_WAIT): a writing command waits for the writer lock instead of exiting 4,
# so two make rules that each run quire in one project under make -j both succeed.
. "$(dirname "$0")/lib.sh"
new_story s

# A run that holds the lock for a while: 11 instances x 300 ms at -j1.
hold() {
	QUIRE_MOCK_LATENCY_MS=300 "$QUIRE" run -j 1 --json >holder.out 2>holder.err &
	holder=$!
	for _ in $(seq 100); do grep -q '"event":"start"' holder.out 2>/dev/null && break; sleep 0.1; done
}

hold
run_q "run --wait waits for the holder, then runs" 0 run --wait
check "it said it was waiting, naming the holder" err_has "waiting for the writer lock (pid $holder, 'quire run'"
check "the holder had finished by then" test ! -d "/proc/$holder"
wait "$holder"
is "and the holder itself succeeded" "$?" 0
run_q "everything is up to date" 0 plan --check

echo "more" >>prompts/chapter.md
hold
run_q "--wait=0.5 gives up while the lock stays held" 4 run --wait=0.5
check "saying how long it waited and who holds it" err_has "still writing this project after 0.5 s (pid $holder"
check "the holder is still running" test -d "/proc/$holder"
wait "$holder"

echo "again" >>prompts/chapter.md
hold
QUIRE_WAIT=forever run_q "QUIRE_WAIT=forever does what --wait does" 0 run
wait "$holder"
# Ctrl-C ends a wait at once (run catches SIGINT itself, so the wait must look).
setsid flock .quire/lock sleep 30 &
locker=$!
for _ in $(seq 50); do flock -n .quire/lock true 2>/dev/null || break; sleep 0.1; done
"$QUIRE" run --wait >"$TRASH/int.out" 2>"$TRASH/int.err" &
waiter=$!
for _ in $(seq 50); do grep -q "waiting for the writer lock" "$TRASH/int.err" 2>/dev/null && break; sleep 0.1; done
kill -INT "$waiter"
wait "$waiter"
is "a waiting run interrupted exits 130" "$?" 130
check "saying so" grep -q "interrupted" "$TRASH/int.err"
kill -- -"$locker" 2>/dev/null || kill "$locker"
wait "$locker" 2>/dev/null
run_q "gc takes --wait too" 0 gc --wait=5
run_q "a --wait that is no number is a usage error" 2 run --wait=soon
check "naming it" err_has "--wait=soon"
QUIRE_WAIT=soon run_q "so is such a QUIRE_WAIT, when the lock is taken" 3 run
check "naming the variable" err_has "QUIRE_WAIT='soon'"
run_q "plan takes no --wait (it never writes)" 2 plan --wait
run_q "run --help tells of --wait" 0 run --help
check "it does" out_has "--wait[=SECONDS]"

# Two make rules calling quire in one project at once: both go through.
echo "and again" >>prompts/scene.md
cat >Makefile <<'EOF'
all: one two
one:
	QUIRE_MOCK_LATENCY_MS=200 $(QUIRE) run --wait 'Scene[0][*]'
two:
	QUIRE_MOCK_LATENCY_MS=200 $(QUIRE) run --wait 'Scene[1][*]'
EOF
# (make's output kept out of the TAP stream)
check "make -j2 with two quire rules succeeds" sh -c "make -s -j2 QUIRE='$QUIRE' >'$TRASH/make.out'"
run_q "both rules' scenes were made" 0 plan --check 'Scene[0][*]' 'Scene[1][*]'
done_testing
