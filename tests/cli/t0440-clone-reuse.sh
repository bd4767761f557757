#!/bin/bash
# A clone of a git-versioned project (manifests, current and out/ committed; blobs and the
# database not) pays for nothing it has: plan says nothing to do (out/ files holding exactly
# the recorded bytes are taken into its store, hashed), a run calls no provider, the prompts
# the calls sent can be read (committed with each revision), and rewind
# takes what a revision recorded from the git history; what is in neither is named, and
# nothing changes.
. "$(dirname "$0")/lib.sh"
g() { git -c user.email=w@example.org -c user.name=Writer "$@"; }
q init orig >/dev/null && cd orig || exit 1
g init -q . && run_q "first run" 0 run
g add -A && g commit -qm "first draft"
run_q "a second tone" 0 edit --set Tone=eerie
run_q "run it (never committed)" 0 run
run_q "a third tone" 0 edit --set Tone=wry
run_q "run it" 0 run
g add -A && g commit -qm "wry"
cd .. && git clone -q orig clone && cd clone || exit 1
check "the clone has no blobs" test ! -e .quire/blobs

run_q "run --dry-run in the clone" 0 run --dry-run
check "predicts what the run does: nothing" out_has "plan: nothing to do, 14 up to date"
check "and writes nothing" test ! -e .quire/blobs
run_q "plan in the clone" 0 plan --explain
check "nothing to do: out/ holds every output" out_has "plan: nothing to do, 14 up to date"
# Any provider call would fail: the mock is told to fail every instance.
QUIRE_MOCK_FAIL='*' run_q "run in the clone" 0 run --json
is "nothing produced" "$(count_events produced)" 0
is "nothing failed" "$(count_events failed)" 0
is "no revision made, nothing in git changed" "$(git status --porcelain)" ""
# What each call sent is committed with the revision (.quire/calls), so a clone shows it.
check "the calls of each run are committed" test -s .quire/calls/$(revfull 5).jsonl
check "under the revision's name alone (nothing pending left)" \
	test -z "$(ls -a .quire/calls ../orig/.quire/calls ../orig/.quire/tmp | grep -e pending -e '\.tmp-')"
run_q "the prompt a chapter was written from, in the clone" 0 inspect 'Chapter[1]' --prompt
(cd ../orig && "$QUIRE" inspect 'Chapter[1]' --prompt) >../prompt.orig
check "is the one sent" cmp -s "$TRASH/.out" ../prompt.orig
run_q "inspect --json" 0 inspect 'Chapter[1]' --json
check "names its call record" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["call_record"]["provider"]=="mock" and d["call_record"]["prompt"]["kept"], d' "$TRASH/.out"

# A clone whose out/ file differs from what was recorded takes nothing from it.
cd .. && git clone -q orig clone2 && cd clone2 || exit 1
echo "not what was recorded" >out/Chapter-1.md
run_q "plan with one out/ file changed" 0 plan --json
check "that one is not taken" python3 -c '
import json,sys
ids=[i["id"] for i in json.load(open(sys.argv[1]))["instances"]]
assert "Chapter[1]" in ids and "Chapter[0]" not in ids, ids' "$TRASH/.out"
cd ../clone || exit 1

run_q "rewind preview to the first draft" 0 rewind $(rev 1) --preview
check "nothing blocks it" sh -c "! grep -q 'block' '$TRASH/.out'"
run_q "rewind to the first draft" 0 rewind $(rev 1) --yes
check "its tone is back" grep -q "^Tone: warm" inputs.yaml
check "its chapters are back, as they were committed" sh -c \
	'git -C ../orig show HEAD~1:out/Chapter-1.md | cmp -s - out/Chapter-1.md'
QUIRE_MOCK_FAIL='*' run_q "a run after it calls no provider" 0 run --json
is "nothing produced" "$(count_events produced)" 0

# rev-0003 was never committed: its outputs are in no store and no commit here.
state=$(store_state)
run_q "rewind preview to a revision made but never committed" 0 rewind $(rev 3) --preview
check "says what cannot be had" out_has "outputs not here (block)"
check "names the file too" out_has "files not here (block)  1: inputs.yaml"
run_q "rewind to it" 3 rewind $(rev 3) --yes
check "says what is missing and where it is" err_has "neither in the store nor in the project's git history"
check "names the outputs and the file" err_has "the outputs of Book, Chapter[0], Chapter[1], Chapter[2], Outline and 9 more; the content of 'inputs.yaml'"
is "nothing changed" "$(store_state)" "$state"
check "inputs.yaml as it was" grep -q "^Tone: warm" inputs.yaml
# A file whose text the current revision recorded but no store holds (its blob removed as
# damaged) is the only copy: a rewind stores it before replacing it, so it can be undone.
cd "$TRASH" && q init ng >/dev/null && cd ng || exit 1
run_q "a project without git" 0 run
echo "my careful prompt work" >>prompts/book.md
run_q "a prompt changed and run" 0 run
d=$(sha256sum prompts/book.md | cut -c1-64)
check "its snapshot removed" blob_rm "$d"
run_q "rewind to before it" 0 rewind $(rev 1) --yes
check "the prompt as it was then" sh -c '! grep -q "my careful prompt work" prompts/book.md'
run_q "and back" 0 rewind $(rev 2) --yes
check "the writer's text is back" grep -q "my careful prompt work" prompts/book.md
# A shallow clone (CI's depth 1 or 2) has the commits it has: the history is read up to its
# edge.
cd "$TRASH/orig" || exit 1
run_q "a third tone" 0 edit --set Tone=bright
run_q "run it" 0 run
g add -A && g commit -qm "bright"
cd "$TRASH" && git clone -q --depth 2 "file://$TRASH/orig" shallow && cd shallow || exit 1
check "the clone is shallow" test -f .git/shallow
run_q "rewind to the revision of the commit before" 0 rewind $(rev 5) --yes
check "its tone is back" grep -q "^Tone: wry" inputs.yaml
QUIRE_MOCK_FAIL='*' run_q "a run after it calls no provider" 0 run --json
is "nothing produced" "$(count_events produced)" 0
done_testing
