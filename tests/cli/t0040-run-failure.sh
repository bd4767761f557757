#!/bin/bash
# A failed job blocks only its dependants; the revision records it; the next run retries just it.
. "$(dirname "$0")/lib.sh"
new_story s
QUIRE_MOCK_FAIL='Chapter[1]' run_q "a run with one failing chapter exits 1" 1 run --json
is "the failure is reported" "$(event_ids failed)" "Chapter[1]"
is "its dependants are blocked" "$(event_ids blocked)" "Book Scene[1][0] Scene[1][1]"
is "everything else was produced" "$(count_events produced)" 7
check "the summary names the counts" out_has '"failed":1'
check "the revision was committed" test -f $(pack 1)
run_q "inspect the failed instance" 0 inspect 'Chapter[1]'
check "status failed" out_has "status:      failed"
check "with the provider's message" out_has "injected failure for Chapter[1]"
run_q "plan says why it will run again" 0 plan --explain
check "previously failed" out_has "previously failed"
run_q "the next run succeeds" 0 run --json
is "just the failed one and what it blocked ran" "$(event_ids produced)" "Book Chapter[1] Scene[1][0] Scene[1][1]"
run_q "then nothing is left" 0 plan --check

# A failed re-run keeps the old output visible as stale, never as clean.
echo "More dialogue." >>prompts/chapter.md
old=$(cat out/Chapter-1.md)
QUIRE_MOCK_FAIL='Chapter[1]' run_q "a failing re-run" 1 run
run_q "inspect after the failing re-run" 0 inspect 'Chapter[1]'
check "the old output is stale" out_has "status:      stale"
is "out/ still holds the old text" "$(cat out/Chapter-1.md)" "$old"
run_q "plan --check still sees work" 1 plan --check

# --fail-fast starts nothing new after the first failure.
cd "$TRASH" && new_story ff
QUIRE_MOCK_FAIL='Chapter[0]' run_q "fail-fast run" 1 run -j 1 --fail-fast
check "work was left unstarted" out_has "not started"
run_q "the next run finishes the job" 0 run
run_q "up to date" 0 plan --check
done_testing
