#!/bin/bash
# Two clones that each ran, merged by git through a bare repository: no conflict in .quire/
# (revisions are named by content, current merges by union, out/ keeps this clone's files),
# the next run commits a merge revision with both parents, plans only what the merged prompts
# need, reuses what the other clone made (taken from the git history) and keeps its pin. A
# clone without quire's merge driver gets git's markers in out/: quire refuses them, naming
# the driver and the fix.
. "$(dirname "$0")/lib.sh"
g() { git -c user.email=w@example.org -c user.name=Writer -c pull.rebase=false "$@"; }
git init -q --bare hub.git
q init a >/dev/null && cd a || exit 1
g init -q . && g remote add origin ../hub.git
run_q "first run" 0 run
g add -A && g commit -qm "first draft" && g push -q origin HEAD:main 2>/dev/null
cd .. && g clone -q -b main hub.git b && g clone -q -b main hub.git c || exit 1
cd b && run_q "init in the clone sets up the driver" 0 init
check "says so" out_has "merge driver"
check "in .git/config" test "$(git config merge.quire-out.driver)" = true

# b: a new chapter prompt (chapters, scenes, the story so far and the book again), and a
# writer's own text for one scene.
echo "Keep it short." >>prompts/chapter.md
run_q "b runs" 0 run
printf 'The writer kept this scene.\n' >"$TRASH/scene.md"
run_q "b hand-edits a scene" 0 edit 'Scene[0][0]' --file "$TRASH/scene.md"
g add -A && g commit -qm "b: shorter chapters" && g push -q origin HEAD:main 2>/dev/null
b_head=$(revfull 3)

# a: a new book prompt only, run and committed before pulling b's work.
cd ../a
echo "Bound in blue." >>prompts/book.md
run_q "a runs" 0 run
g add -A && g commit -qm "a: blue binding"
a_head=$(revfull 2)
run_q "init in a too" 0 init
g pull -q origin main >"$TRASH/pull.out" 2>&1
check "git merges without a conflict" test $? = 0
is "nothing left to resolve" "$(git diff --name-only --diff-filter=U)" ""
is "current holds both heads" "$(sort .quire/current | tr '\n' ' ')" \
	"$(printf '%s\n' "$a_head" "$b_head" | sort | tr '\n' ' ')"

# (As 'git pull --rebase' leaves it: the other clone's book in out/, one of the merge's takes.)
cp ../b/out/Book.md out/Book.md
run_q "plan after the merge" 0 plan --json
check "only the book: the one artefact both sides changed" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [i["id"] for i in d["instances"]]==["Book"], [i["id"] for i in d["instances"]]' "$TRASH/.out"
check "and out/ holds nothing the run would refuse" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["out_conflicts"]==[], d["out_conflicts"]' "$TRASH/.out"
run_q "run after the merge" 0 run --json
is "one provider call: the book" "$(event_ids produced)" "Book"
check "says it merged" python3 -c '
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
s=[r for r in rows if r.get("event")=="summary"][0]
assert s.get("merged"), s' "$TRASH/.out"
run_q "the log" 0 inspect --log --json
check "a merge revision with both heads as parents, this clone's first" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
m=[r for r in d if r.get("parents")]
assert len(m)==1 and m[0]["parents"]==[sys.argv[2], sys.argv[3]], m' "$TRASH/.out" "$a_head" "$b_head"
run_q "inspect the scene" 0 inspect 'Scene[0][0]' --json
check "is b's hand edit, pinned" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="user-edited", d' "$TRASH/.out"
is "out/ shows it" "$(cat out/Scene-0-0.md)" "The writer kept this scene."
check "b's chapters are in out/, taken from git's history" cmp -s out/Chapter-1.md ../b/out/Chapter-1.md
run_q "plan once merged" 0 plan
check "nothing to do" out_has "plan: nothing to do"
is "current is one revision again" "$(wc -l <.quire/current)" 1
g add -A && g commit -qm "merge" && g push -q origin HEAD:main 2>/dev/null

# c: cloned before, never ran 'quire init': git merges out/ as text.
cd ../c
check "no driver here" test -z "$(git config merge.quire-out.driver)"
echo "Each scene at night." >>prompts/scene.md
run_q "c runs" 0 run
c_head=$(revfull 2)
g add -A && g commit -qm "c: night scenes"
g pull -q origin main >"$TRASH/pull.out" 2>&1
check "git stops on out/" grep -q "CONFLICT.*out/" "$TRASH/pull.out"
check "and not on .quire/" sh -c '! git diff --name-only --diff-filter=U | grep -q "^.quire/"'
run_q "run on a conflicted out/" 7 run --json
check "names the markers and the driver" err_has "holds git's conflict markers"
check "and the command that sets it up" err_has "'quire init'"
q inspect --log --json >"$TRASH/log.json"
check "having merged the two lines of history first, this clone's first" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert sys.argv[2] in [r["parents"][0] for r in d if r.get("parents")], d' "$TRASH/log.json" "$c_head"
for f in $(git diff --name-only --diff-filter=U); do rm -f "$f" && g add "$f"; done
run_q "after taking quire's version" 0 run --json
is "the merged pin holds: the scenes but that one, and the book" "$(event_ids produced)" \
	"Book Scene[0][1] Scene[1][0] Scene[1][1] Scene[2][0] Scene[2][1]"
is "out/ shows the pin" "$(cat out/Scene-0-0.md)" "The writer kept this scene."
run_q "plan" 0 plan
check "nothing to do" out_has "plan: nothing to do"

# a and b both write the third chapter by hand: a's text is shown in a, b's is kept beside.
cd ../b && g pull -q origin main >/dev/null 2>&1
run_q "b catches up" 0 run
printf 'B wrote this.\n' >"$TRASH/b3.md"
run_q "b writes chapter 3" 0 edit 'Chapter[2]' --file "$TRASH/b3.md"
g add -A && g commit -qm "b: chapter 3 by hand" && g push -q origin HEAD:main 2>/dev/null
cd ../a
printf 'A wrote this.\n' >"$TRASH/a3.md"
run_q "a writes it too" 0 edit 'Chapter[2]' --file "$TRASH/a3.md"
g add -A && g commit -qm "a: chapter 3 by hand" && g pull -q origin main >/dev/null 2>&1
is "git merged" "$(git diff --name-only --diff-filter=U)" ""
first=$(rev 1)
run_q "rewind --preview from two lines of history" 0 rewind "$first" --preview
check "compares with their merge" out_has "a new revision equal to $first"
run_q "the run merges" 0 run
check "says both wrote it and where the other's text is" err_has "both clones wrote it by hand"
is "this clone's text is shown" "$(cat out/Chapter-2.md)" "A wrote this."
check "the other's text is kept beside the project" grep -qx "B wrote this." .quire/edits/Chapter-2.from-*.md
run_q "rewind to the first draft" 0 rewind "$first" --yes
check "the prompts are the first draft's" sh -c '! grep -q "Keep it short" prompts/chapter.md'

# As git would bring c's line (its revisions, its scene prompt, its head in current): a rewind
# merges it first, recording the project's files as they now are, so nothing is unrecorded.
cp ../c/.quire/revs/*.objects .quire/revs/
cp ../c/prompts/scene.md prompts/scene.md
cat ../c/.quire/current >>.quire/current
run_q "rewind --preview from two lines of history" 0 rewind "$first" --preview
check "says it starts from their merge" out_has "the merge of the two lines of history"
check "with nothing the writer changed to refuse" out_lacks "unrecorded"
run_q "rewind from two lines of history" 0 rewind "$first" --yes
check "the scene prompt is the first draft's again" sh -c '! grep -q "at night" prompts/scene.md'
check "an earlier merge's note about chapter 3 is not said again" err_lacks "by hand"
check "the undo names the merge it made" out_lacks "000000000000"
done_testing
