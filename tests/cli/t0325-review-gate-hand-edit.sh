#!/bin/bash
# A hand edit cannot walk around a review gate: when an artefact is edited by hand while
# something it uses awaits review, what uses the edit waits for that review too.
. "$(dirname "$0")/lib.sh"
q init c --blueprint comic >/dev/null || exit 1
cd c || exit 1
run_q "a first run: pages, then narration awaiting review" 0 run
run_q "approve the narration" 0 edit 'Narration[*]' --approve
run_q "the dialogue is written, and awaits review" 0 run
run_q "approve it" 0 edit 'Dialogue[*]' --approve
run_q "panels are made" 0 run
run_q "feedback on page 1's narration" 0 edit 'Narration[0]' --feedback "more mystery"
run_q "the narration is rewritten and awaits review again" 0 run --json
check "its dialogue waits" grep -q '"event":"waiting","id":"Dialogue\[0\]"' "$TRASH/.out"
printf 'CAPTAIN: We go at dawn.\n' >"$TRASH/dialogue.md"
run_q "the dialogue of page 1 is edited by hand meanwhile" 0 edit 'Dialogue[0]' --file "$TRASH/dialogue.md"
run_q "plan" 0 plan --explain
check "the panels of page 1 wait for the narration's review" out_has "awaiting review: Narration[0]"
run_q "a run" 0 run --json
is "no panel of page 1 is made (no paid art behind the gate)" "$(grep -c '"event":"produced","id":"Panel[A-Za-z]*\[0\]' "$TRASH/.out")" 0
check "nothing was run: everything left waits for a review" grep -q '"event":"summary".*"produced":0' "$TRASH/.out"
run_q "approve the narration" 0 edit 'Narration[0]' --approve
run_q "now the panels of page 1 are made from the hand-edited dialogue" 0 run --json
check "PanelPrompt[0][0] produced" grep -q '"event":"produced","id":"PanelPrompt\[0\]\[0\]"' "$TRASH/.out"
done_testing
