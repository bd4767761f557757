#!/bin/bash
# git's reading commands: status (what changed, what needs attention), log (newest first,
# -n), diff (current~1 current by default; --word-diff for prose), show; revisions named
# current, current~N, rev-NNNN, NNNN.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "rev-0001" 0 run
run_q "status when up to date" 0 status
check "says so" out_has "everything is up to date"
check "names the revision" out_has "on $(rev 1)"
sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
run_q "status after an edit" 0 status
check "what would run, and why" out_has "input changed: Tone"
run_q "status --json" 0 status --json
check "has the plan and what needs attention" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["dirty"]==11 and "attention" in d and "out_conflicts" in d, d' "$TRASH/.out"
QUIRE_MOCK_FAIL='Scene[2][1]' run_q "rev-0002 with a failure" 1 run
run_q "status names the failure" 0 status
check "its output kept, stale: Scene[2][1] and the Book it blocked" out_has "stale           Book Scene[2][1]"

run_q "log, newest first" 0 log
first=$(grep -m1 -E '^[0-9a-f]{12} ' "$TRASH/.out" | cut -d' ' -f1)
is "the newest comes first" "$first" $(rev 2)
run_q "log -n 1" 0 log -n 1 --json
check "one revision" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert [r["revision"] for r in d]==["'"$(revfull 2)"'"], d' "$TRASH/.out"

run_q "diff with no revisions: current~1 to current" 0 diff
check "compares rev-0001 and rev-0002" out_has "diff $(rev 1) $(rev 2)"
run_q "diff current~1 current --word-diff" 0 diff current~1 current --word-diff
check "labels the artefact" out_has "--- Chapter[0]@$(rev 1)"
check "shows changed words, not whole lines" grep -q '\[-.*-\]{+.*+}' "$TRASH/.out"
PATH=/nonexistent run_q "--word-diff without git on PATH" 0 diff current~1 current --word-diff
check "says it cannot run git" err_has "cannot show the change of Chapter[0]: cannot run git"
PATH=/nonexistent run_q "nor diff without it" 0 diff current~1 current
check "says it cannot run diff" err_has "cannot show the change of Chapter[0]: cannot run diff"
run_q "diff with prefixes names the same" 0 diff $(revfull 1 | cut -c1-7) $(revfull 2 | cut -c1-9) --json
check "as JSON" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["from"]=="'"$(revfull 1)"'" and d["to"]=="'"$(revfull 2)"'"' "$TRASH/.out"
run_q "current~N past the first revision" 3 diff current~5
check "says so" err_has "goes back past the first revision"
run_q "a revision that is not one" 3 diff yesterday
check "says how to name one" err_has "a name, at least 7 of its first digits, current or current~N"

run_q "show current~1" 0 show current~1
check "is that revision" out_has "revision $(rev 1)"
run_q "show an artefact" 0 show 'Chapter[0]'
check "its provenance" out_has "producer:    Chapter"
run_q "show an artefact of an earlier revision" 0 show $(rev 1) 'Chapter[0]'
check "its provenance" out_has "id:          Chapter[0]"
run_q "inspect --revision current~1" 0 inspect --revision current~1
check "is rev-0001" out_has "revision $(rev 1)"
run_q "rewind current~1 --preview" 0 rewind current~1 --preview
check "names the revision" out_has "a new revision equal to $(rev 1)"
done_testing
