#!/bin/bash
# A feedback round revises its draft: the template gets the output the note was given on
# ({{draft}}) and the notes ({{feedback}}); the revision is then up to date (the draft is
# recorded with the note, not re-read from the entry it replaces); a second note revises the
# first revision. The bundled blueprints' prompts use both.
. "$(dirname "$0")/lib.sh"
q init s >/dev/null && cd s || exit 1
# Echo: a text output is its rendered prompt, so what the model was told can be read back.
sed -i 's/    model: mock-writer/    params: { mode: echo }/' quire.yaml
run_q "run the story" 0 run
cp out/Chapter-1.md ../first.md
check "no revision block without feedback" sh -c '! grep -q "previous draft" out/Chapter-1.md'
run_q "feedback on Chapter[1]" 0 edit 'Chapter[1]' --feedback "Shorter, please."
run_q "plan says why" 0 plan --explain 'Chapter[1]'
check "feedback given" out_has "feedback given: Shorter, please."
run_q "run the revision" 0 run --json
check "Chapter[1] was revised" sh -c "grep -q '\"event\":\"produced\",\"id\":\"Chapter\[1\]\"' '$TRASH/.out'"
check "the prompt carried the draft it revises" \
	python3 -c '
import sys
new=open("out/Chapter-1.md").read(); old=open("../first.md").read()
body=old.split("\n",1)[1] if old.startswith("# ") else old
mark="Your previous draft of this chapter:\n"
assert mark in new, new
assert body.strip()[:200] in new.split(mark,1)[1], "draft missing"'
check "and the note" grep -q "^Shorter, please.$" out/Chapter-1.md
run_q "plan after the revision" 0 plan
check "nothing to do: the revision is up to date" out_has "plan: nothing to do"
cp out/Chapter-1.md ../second.md
run_q "a second note" 0 edit 'Chapter[1]' --feedback "Warmer ending."
run_q "run it" 0 run
check "revises the first revision" \
	python3 -c '
new=open("out/Chapter-1.md").read(); prev=open("../second.md").read()
assert "Revise it as these notes ask" in prev
assert prev.split("\n",2)[2][:300] in new, "the first revision is not the draft"'
check "both notes, in order" sh -c 'grep -A1 "^Shorter, please.$" out/Chapter-1.md | grep -q "^Warmer ending.$"'
run_q "and again up to date" 0 plan
check "nothing to do" out_has "plan: nothing to do"
run_q "inspect --json names the draft" 0 inspect 'Chapter[1]' --json
check "its digest on the entry and in the record" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
assert d["draft"].startswith("sha256:") and d["deps"]["draft"]==d["draft"], d.get("draft")' "$TRASH/.out"
# Each round is a take of its own: the drafts stay, and a writer can go back to one.
run_q "the takes of Chapter[1]" 0 inspect 'Chapter[1]' --takes
check "the first draft and both rounds, with their notes" sh -c "
	grep -q '^Chapter\[1\] take 0 ' '$TRASH/.out' &&
	grep -q '^Chapter\[1\] take 1 .*feedback: Shorter, please.$' '$TRASH/.out' &&
	grep -q '^Chapter\[1\] take 2 .*(shown)  feedback: Warmer ending.$' '$TRASH/.out'"
run_q "back to the first draft" 0 edit 'Chapter[1]' --take 0
cmp -s out/Chapter-1.md ../first.md
is "out/ holds it again" "$?" 0
run_q "the prompt of the take now shown" 0 inspect 'Chapter[1]' --prompt
check "is the first draft's, not a revision's" out_lacks "Revise it as these notes ask"
run_q "plan after going back" 0 plan --json
check "the first draft is not revised again (its notes are not pending)" python3 -c '
import json,sys
ids=[i["id"] for i in json.load(open(sys.argv[1]))["instances"]]
assert "Chapter[1]" not in ids and "StorySoFar[1]" in ids, ids' "$TRASH/.out"
run_q "a note on the first draft" 0 edit 'Chapter[1]' --feedback "Start at the harbour."
run_q "run it" 0 run
run_q "its takes" 0 inspect 'Chapter[1]' --takes
check "a new take answers it, the others stay" sh -c "
	grep -q '^Chapter\[1\] take 3 .*(shown)  feedback: Start at the harbour.$' '$TRASH/.out' &&
	grep -q '^Chapter\[1\] take 2 ' '$TRASH/.out'"
check "revised from the first draft, with only its own note" python3 -c '
new=open("out/Chapter-1.md").read(); old=open("../first.md").read()
assert old.split("\n",2)[2][:300] in new and "Shorter, please." not in new, new'
run_q "and gc keeps every draft" 0 gc
run_q "back to the second round" 0 edit 'Chapter[1]' --take 2
check "its text" grep -q "^Warmer ending.$" out/Chapter-1.md
cd ..

# The comic's reviewed narration: a feedback round shows the draft too.
q init c --blueprint comic >/dev/null && cd c || exit 1
sed -i 's/    model: mock-writer/    params: { mode: echo }/' quire.yaml
run_q "run the comic" 0 run
run_q "feedback on Narration[0]" 0 edit 'Narration[0]' --feedback "Less exposition."
run_q "run the revision" 0 run
check "its prompt held the draft and the note" \
	sh -c 'grep -q "Your previous draft of this narration:" out/Narration-0.md && grep -q "^Less exposition.$" out/Narration-0.md'
done_testing
