#!/bin/bash
# What out/ holds is never paid for again: outputs missing from the store (a clone without
# blobs, a blob removed as damaged) are taken back from their out/ files when a file holds
# exactly the recorded bytes; a hand edit gone from both stops the run instead of being
# generated over.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run

# A clone: the committed parts only (manifests, current, project files, out/).
cd "$TRASH" && mkdir clone && cp -r s/. clone/ && cd clone || exit 1
rm -rf .quire/blobs .quire/quire.db* .quire/runs
run_q "plan in the clone: up to date (out/ taken into the store)" 0 plan --check
QUIRE_MOCK_FAIL='*' run_q "run in the clone calls no provider" 0 run --json
is "nothing produced" "$(count_events produced)" 0
is "nothing failed" "$(count_events failed)" 0
run_q "up to date afterwards" 0 plan --check
run_q "fsck: the outputs are in the store again" 0 fsck
check "nothing damaged" out_has "nothing is damaged"
# A file that is not exactly the recorded output is not taken.
rm -rf .quire/blobs
echo "not the recorded text" >out/Scene-0-0.md
run_q "a changed out/ file is not taken back (nor overwritten: it is a writer's)" 7 run --json
check "names it" err_has "out/Scene-0-0.md"
rm out/Scene-0-0.md
run_q "removed, that one is made again" 0 run --json
is "and only that one" "$(event_ids produced)" "Scene[0][0]"

# A hand edit whose blob was removed as damaged: taken back from out/, still a hand edit.
cd "$TRASH/s" || exit 1
echo "My own chapter." >mine.md
run_q "a hand edit" 0 edit 'Chapter[1]' --file mine.md
run_q "run" 0 run
d=$(python3 -c 'import json; m=json.load(open("'"$(current_json)"'")); print(m["artefacts"]["Chapter[1]"]["digest"][7:])')
blob_damage "$d" "damage"
run_q "fsck --repair removes the damaged blob" 0 fsck --repair
QUIRE_MOCK_FAIL='*' run_q "the next run takes the hand edit back from out/" 0 run --json
is "nothing produced" "$(count_events produced)" 0
check "out/ still holds the writer's text" grep -q "My own chapter." out/Chapter-1.md
run_q "still a hand edit" 0 inspect 'Chapter[1]'
check "user-edited" out_has "user-edited"
# Gone from both: the run stops rather than generate over a writer's text.
blob_rm "$d"
rm -f out/Chapter-1.md
QUIRE_MOCK_FAIL='*' run_q "a hand edit in neither the store nor out/" 5 run --json
check "says so, and how to go on" err_has "the hand edit of Chapter[1] is neither in the store nor in out/"
check "names --release" err_has "quire edit Chapter[1] --release"
is "nothing produced" "$(count_events produced)" 0
done_testing
