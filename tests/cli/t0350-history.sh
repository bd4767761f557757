#!/bin/bash
# inspect --log, --diff, --status; and the bundled comic and screenplay blueprints run on the
# mock provider through their review gates.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "rev-0001" 0 run
sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
QUIRE_MOCK_FAIL='Scene[2][1]' run_q "rev-0002 with a failure" 1 run
run_q "log" 0 inspect --log --json
check "two revisions with counts and messages" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [r["revision"] for r in d]==["'"$(revfull 2)"'","'"$(revfull 1)"'"] and d[1]["produced"]==11
assert d[0]["failed"]==1 and d[0]["parent"]=="'"$(revfull 1)"'" and d[0]["message"]=="quire run"' "$TRASH/.out"
run_q "diff as text" 0 inspect --diff $(rev 1) $(rev 2)
check "the input change" out_has 'input Tone: "warm" -> "wry"'
check "a unified diff of a chapter" out_has "--- Chapter[0]@$(rev 1)"
check "with +++ lines" out_has "+++ Chapter[0]@$(rev 2)"
run_q "diff as JSON" 0 inspect --diff $(rev 1) $(rev 2) --json
check "the failed scene changed status" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
c={x["id"]:x for x in d["artefacts"]["changed"]}
assert c["Scene[2][1]"]["to"]=="stale" and "diff" in c["Chapter[0]"]' "$TRASH/.out"
run_q "status" 0 inspect --status
check "the failed scene and the blocked book are stale" out_has "stale           Book Scene[2][1]"
run_q "--diff needs two revisions" 2 inspect --diff $(rev 1)

cd "$TRASH" && run_q "init the comic" 0 init comic --blueprint comic && cd comic
run_q "comic: first run" 0 run --json
check "narration awaits review" grep -q '"pending_review":2' "$TRASH/.out"
run_q "approve narration" 0 edit 'Narration[*]' --approve
run_q "dialogue" 0 run --json
run_q "approve dialogue" 0 edit 'Dialogue[*]' --approve
run_q "panels" 0 run --json
check "panel art exists as PNG" sh -c "head -c 8 out/PanelArt-1-2.png | od -c | grep -q 'P   N   G'"
run_q "comic done" 0 plan --check

cd "$TRASH" && run_q "init the screenplay" 0 init sp --blueprint screenplay && cd sp
run_q "screenplay: brainstorm" 0 run --json
run_q "pick idea 2" 0 edit --set Pick=2
run_q "approve the brainstorm" 0 edit Brainstorm --approve
run_q "outline and episodes" 0 run --json
is "outline and three episodes" "$(event_ids produced)" "Episode[0] Episode[1] Episode[2] Outline"
run_q "pick out of range fails the outline" 0 edit --set Pick=5
run_q "run" 1 run
check "the outline failed with an index message" out_has "out of range"
done_testing
