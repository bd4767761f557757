#!/bin/bash
# Review gates: outputs of review producers await approval and hold their dependants; approve
# releases exactly the matching instances; feedback revises just that artefact, its history
# kept, and reaches the prompt as {{feedback}}.
. "$(dirname "$0")/lib.sh"
cp -r "$FIXTURES/reviewed" r && cd r
run_q "first run" 0 run --json
is "drafts produced" "$(event_ids produced)" "Draft[0] Draft[1]"
is "finals wait" "$(event_ids waiting)" "Final[0] Final[1]"
run_q "plan says why" 0 plan
check "waiting for review" out_has "wait    Final[0]  awaiting review: Draft[0]"
run_q "plan --check has nothing runnable" 0 plan --check
# A second run has nothing it may run, but does not pretend all is done.
run_q "a second run while both wait" 0 run
check "says what waits, not 'nothing to do'" \
	out_has "run: nothing to run: 2 up to date, 2 waiting for review"
check "and what to review" out_has "review: 2 await review:"
run_q "the same as JSON" 0 run --json
check "counts what waits and what awaits review" python3 -c '
import json,sys; d=[json.loads(l) for l in open(sys.argv[1])][-1]
assert d["event"]=="summary" and d["waiting"]==2 and d["pending_review"]==2, d' "$TRASH/.out"
run_q "status lists pending reviews" 0 inspect --status --json
check "both drafts" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["artefacts"]["pending-review"]==["Draft[0]","Draft[1]"]' "$TRASH/.out"

run_q "approve one draft" 0 edit 'Draft[0]' --approve
run_q "run" 0 run --json
is "only its final runs" "$(event_ids produced)" "Final[0]"
is "the other still waits" "$(event_ids waiting)" "Final[1]"

run_q "feedback on the other" 0 edit 'Draft[1]' --feedback "shorter, please"
run_q "plan" 0 plan --explain
check "feedback is the reason" out_has "feedback given: shorter, please"
run_q "run revises just that draft" 0 run --json
is "just Draft[1]" "$(event_ids produced)" "Draft[1]"
check "the feedback reached the prompt" grep -q 'Notes: shorter, please' out/Draft-1.md
run_q "a second note" 0 edit 'Draft[1]' --feedback "and warmer"
run_q "run" 0 run --json
check "both notes reach the prompt, in order" sh -c "grep -A1 'Notes: shorter, please' out/Draft-1.md | grep -q 'and warmer'"
run_q "history is kept" 0 inspect --json 'Draft[1]'
check "two feedback entries" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["feedback"]==["shorter, please","and warmer"], d["feedback"]' "$TRASH/.out"

run_q "approve with a pattern" 0 edit 'Draft[*]' --approve
check "only what awaited review" out_has "edit: Draft[1] approved"
check "Draft[0] was already approved" sh -c "! grep -q 'Draft\[0\] approved' '$TRASH/.out'"
run_q "run" 0 run --json
is "the last final runs" "$(event_ids produced)" "Final[1]"
run_q "approving again finds nothing" 3 edit 'Draft[*]' --approve
check "says so" err_has "nothing matching 'Draft[*]' awaits review"
run_q "up to date" 0 plan --check
# Feedback whose prompt has no {{feedback}} never reaches the model: refused, nothing billed.
new_story plain
run_q "a story whose prompts read no feedback" 0 run
before=$(cat .quire/current)
run_q "feedback on a chapter is refused" 3 edit 'Chapter[0]' --feedback "more letters, please"
check "naming the prompt and what to add" err_has "the prompt of Chapter[0] (prompts/chapter.md) does not use {{feedback}}"
is "no revision was made" "$(cat .quire/current)" "$before"
run_q "nothing would run" 0 plan --check
done_testing
