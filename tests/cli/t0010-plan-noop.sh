#!/bin/bash
# plan on a fresh project, then a run, then nothing to do: plan --check and run agree.
. "$(dirname "$0")/lib.sh"
new_story s

run_q "plan on a fresh project" 0 plan
check "eleven instances are new" out_has "plan: 11 to run, 0 up to date (current none)"
check "each says why" out_has "Scene[2][1]  new"
run_q "plan --check exits 1 when work is due" 1 plan --check
check "plan --check prints nothing" test ! -s "$TRASH/.out"
run_q "plan --json" 0 plan --json
check "plan --json is JSON with 11 dirty" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["dirty"]==11 and len(d["instances"])==11' "$TRASH/.out"

run_q "run --dry-run" 0 run --dry-run
check "dry run shows the plan" out_has "plan: 11 to run"
check "dry run wrote nothing at all" test ! -e .quire
check "dry run wrote no out/" test ! -e out

run_q "first run" 0 run
check "it produced 11" out_has "run: $(rev 1): 11 produced"
is "current points at rev-0001" "$(cat .quire/current)" "$(revfull 1)"

run_q "plan after the run" 0 plan
check "nothing to do" out_has "plan: nothing to do, 11 up to date (current $(rev 1))"
run_q "plan --check exits 0 when up to date" 0 plan --check
check "the revision's compact index was written" test -s .quire/runs/$(revfull 1)-index.tsv
echo "garbage" >.quire/runs/$(revfull 1)-index.tsv
run_q "a damaged index is ignored, not trusted" 0 plan --check
rm .quire/runs/$(revfull 1)-index.tsv
run_q "a missing index (a fresh clone) falls back to the manifest" 0 plan --check
run_q "second run" 0 run --json
is "second run produced nothing" "$(count_events produced)" 0
check "second run reports no revision" out_has '"revision":null'
is "no second revision was written" "$(ls .quire/revs)" "$(revfull 1).objects"
check "the run wrote the missing index again" test -s .quire/runs/$(revfull 1)-index.tsv
# The head's index holds its rows; the entries a plan explains are read from its pack (no
# rendering of the revision's text is written). An index cut short (a row lost, its count
# kept) is not trusted: the instance it lost is not taken for a new one.
index=.quire/runs/$(revfull 1)-index.tsv
check "no rendering of the head's text" test ! -e .quire/runs/$(revfull 1).json
cp $index "$TRASH/index.tsv"
sed -i '$d' $index
run_q "an index missing its last row" 0 plan --check
cp "$TRASH/index.tsv" $index
sed -i 's/Tone: warm/Tone: eerie/' inputs.yaml
run_q "an input changed: explained from the pack" 0 plan --explain
check "names the input" out_has "input changed: Tone"
check "and the upstream its record names" out_has "upstream changed: Outline"
sed -i 's/Tone: eerie/Tone: warm/' inputs.yaml
run_q "the input put back" 0 plan --check

# A comment in inputs.yaml changes no value: nothing is dirty.
echo "# a note to self" >>inputs.yaml
run_q "a comment-only edit is not a change" 0 plan --check

sed -i 's/Tone: warm/Tone: eerie/' inputs.yaml
state=$(store_state)
run_q "dry run after an edit" 0 run --dry-run
is "dry run left the store as it was" "$(store_state)" "$state"
run_q "plan --explain lists every reason" 0 plan --explain
check "the input is named" out_has "input changed: Tone"
check "upstream reasons are given" out_has "upstream changed: Outline"
run_q "run after the edit" 0 run
check "a second revision" out_has "run: $(rev 2): 11 produced"

# A run that commits without the parent's index (a fresh clone) writes the same kind of
# revision: folded onto the whole parent, its changed entries held in memory.
rm .quire/runs/$(revfull 2)-index.tsv
sed -i 's/Tone: eerie/Tone: warm/' inputs.yaml
run_q "a run without the index commits" 0 run --json
is "everything made again (or restored)" "$(($(count_events produced) + $(count_events cached)))" 11
check "a third revision that reads back" python3 -c '
import json; m = json.load(open("'"$(revjson 3)"'"))
assert m["revision"] == "'"$(revfull 3)"'" and len(m["artefacts"]) == 11, m["revision"]'
run_q "up to date after it" 0 plan --check
check "its index written" test -s .quire/runs/$(revfull 3)-index.tsv
done_testing
