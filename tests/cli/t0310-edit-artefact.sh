#!/bin/bash
# Hand-edited artefacts: stored as user-edited, pinned (never regenerated) until released; what
# depends on them is regenerated from the hand edit; the edit survives later runs.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
cp out/Chapter-1.md original.md
printf '# Chapter 1, by hand\n\nThe keeper wrote back.\n' >mine.md
run_q "replace a chapter from a file" 0 edit 'Chapter[1]' --file mine.md
check "pinned" out_has "pinned until 'quire edit Chapter[1] --release'"
check "out/ shows the hand edit" cmp -s mine.md out/Chapter-1.md
run_q "plan after the hand edit" 0 plan --json
check "its dependants and nothing else are dirty" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
ids=sorted(i["id"] for i in d["instances"])
assert ids==["Book","Scene[1][0]","Scene[1][1]"], ids
assert all(any(r=="upstream changed: Chapter[1]" for r in i["reasons"]) for i in d["instances"] if i["id"]!="Book")' "$TRASH/.out"
run_q "run regenerates what depends on it" 0 run --json
is "exactly those" "$(event_ids produced)" "Book Scene[1][0] Scene[1][1]"
run_q "inspect shows user-edited" 0 inspect 'Chapter[1]'
check "status" out_has "status:      user-edited"
echo "Longer chapters." >>prompts/chapter.md
run_q "a prompt change later" 0 run --json
check "does not regenerate the pinned chapter" sh -c "! grep -q '\"id\":\"Chapter\[1\]\"' '$TRASH/.out'"
check "the other chapters were regenerated" grep -q '"event":"produced","id":"Chapter\[0\]"' "$TRASH/.out"
check "the hand edit survives" cmp -s mine.md out/Chapter-1.md

# $EDITOR on an artefact.
printf '#!/bin/sh\nprintf "\\nA postscript.\\n" >>"$1"\n' >"$TRASH/ed.sh"
chmod +x "$TRASH/ed.sh"
EDITOR="$TRASH/ed.sh" run_q "edit an artefact in \$EDITOR" 0 edit 'Scene[0][0]'
check "the edit landed" sh -c "tail -1 out/Scene-0-0.md | grep -qx 'A postscript.'"
EDITOR=true run_q "closing the editor without changes" 0 edit 'Scene[0][1]'
check "changes nothing" out_has "edit: Scene[0][1] unchanged"

state=$(store_state)
run_q "editing a missing artefact" 3 edit 'Chapter[9]'
check "says it has none" err_has "has no artefact 'Chapter[9]'"
printf '{ "chapters": [ oops ] }' >bad.json
run_q "invalid JSON for a json artefact" 3 edit Outline --file bad.json
check "is a positioned error" err_has "bad.json:1:"
is "and changed nothing" "$(store_state)" "$state"

run_q "release the hand edit" 0 edit 'Chapter[1]' --release
run_q "plan says why it runs again" 0 plan --explain
check "released" out_has "released from a hand edit"
run_q "run after release" 0 run --json
check "the chapter is generated again" grep -q '"id":"Chapter\[1\]"' "$TRASH/.out"
check "out/ no longer holds the hand edit" sh -c '! cmp -s mine.md out/Chapter-1.md'
done_testing
