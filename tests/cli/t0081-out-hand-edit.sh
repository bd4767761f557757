#!/bin/bash
# A writer's words in out/ are never lost: a file there that holds text quire did not write
# (a hand edit, merge-conflict markers) stops every command that would overwrite or remove it
# (exit 7, nothing changed), plan names it, and 'quire edit ID --file' adopts it.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
sed -i '3s/.*/My line./' out/Chapter-1.md
mine=$(sha256sum out/Chapter-1.md)
state=$(store_state)

run_q "plan with a hand edit in out/" 0 plan
check "plan names the file" out_has "out/Chapter-1.md"
check "and the command that keeps it" out_has "quire edit 'Chapter[1]' --file 'out/Chapter-1.md'"
run_q "plan --check: something needs attention" 1 plan --check
run_q "plan --json" 0 plan --json
check "lists it as an out conflict" out_has '"out_conflicts":[{"file":"out/Chapter-1.md","gone":false,"id":"Chapter[1]"}]'

run_q "a run with nothing else to do refuses it" 7 run
check "the message names the file" err_has "out/Chapter-1.md"
check "and how to keep it" err_has "quire edit 'Chapter[1]' --file 'out/Chapter-1.md'"
check "and how to discard it" err_has "rm 'out/Chapter-1.md'"
is "the text is still there" "$(sha256sum out/Chapter-1.md)" "$mine"
check "'nothing to do' is not claimed" out_lacks "nothing to do"

sed -i 's/^Tone: .*/Tone: wry/' inputs.yaml
run_q "a run with work to do refuses before generating anything" 7 run --json
is "nothing was produced" "$(count_events produced)" 0
is "the store did not change" "$(store_state)" "$state"
is "the text is still there" "$(sha256sum out/Chapter-1.md)" "$mine"
run_q "run --dry-run says the same" 7 run --dry-run
check "naming the file" out_has "out/Chapter-1.md"
sed -i 's/^Tone: .*/Tone: warm/' inputs.yaml

cp inputs.yaml inputs.before
run_q "edit --set refuses too" 7 edit --set Tone=eerie
check "inputs.yaml is unchanged" cmp -s inputs.yaml inputs.before
check "no success line was printed" out_lacks "edit:"
run_q "rewind refuses too" 7 rewind $(rev 1) --yes
is "the store did not change" "$(store_state)" "$state"

run_q "adopting it as a hand edit" 0 edit 'Chapter[1]' --file out/Chapter-1.md
check "says so" out_has "Chapter[1] replaced by hand"
is "the text is still there" "$(sha256sum out/Chapter-1.md)" "$mine"
run_q "the next run builds on it" 0 run --json
check "what depends on the chapter is regenerated" test "$(count_events produced)" -ge 1
is "the text is still there" "$(sha256sum out/Chapter-1.md)" "$mine"
run_q "inspect shows it user-edited" 0 inspect 'Chapter[1]'
check "user-edited" out_has "user-edited"

# Discarding: remove the file, and the next run writes quire's version back.
printf '<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> other\n' >out/Scene-0-0.md
run_q "merge-conflict markers are refused the same way" 7 run
check "naming the file" err_has "out/Scene-0-0.md"
rm out/Scene-0-0.md
run_q "once removed, the run restores quire's version" 0 run
check "restored" out_has "out/: 1 restored"
check "the restored file is quire's" sh -c '! grep -q "<<<<<<<" out/Scene-0-0.md'

# A copy of another artefact's output is quire's text: it may be replaced.
cp out/Scene-0-1.md out/Scene-0-0.md
run_q "an output quire keeps is replaced without asking" 0 run
check "restored" out_has "out/: 1 restored"

# The file of an artefact that is no longer built: kept, with what to do.
echo "notes of mine" >>out/Scene-2-1.md
sed -i 's/^Scenes: .*/Scenes: 1/' inputs.yaml
run_q "a run that would remove a hand-edited file refuses first" 7 run --json
is "nothing was produced" "$(count_events produced)" 0
check "the file is still there" grep -q "notes of mine" out/Scene-2-1.md
mv out/Scene-2-1.md "$TRASH/kept.md"
run_q "moved out of the way, the run goes on" 0 run
# The file of an artefact now written under another name (its extension changed).
echo "my ending" >>out/Book.md
python3 - <<'PY'
import re
s = open("blueprint.yaml").read()
i = s.index("  Book:")
s = s[:i] + s[i:].replace("ext: md", "ext: txt", 1)
open("blueprint.yaml", "w").write(s)
PY
run_q "a run that would leave a hand-edited file under its old name" 7 run
check "says where quire's version now is" err_has "out/Book.md: Book is now written as out/Book.txt"
check "and how to keep the text" err_has "quire edit 'Book' --file 'out/Book.md'"
check "and does not promise to write it back" err_lacks "writes quire's version back"
check "the text is still there" grep -q "my ending" out/Book.md
check "refused before anything was written" test ! -e out/Book.txt
run_q "plan lists it with its new name" 0 plan --json
check "as now written elsewhere" out_has '"now":"out/Book.txt"'
rm out/Book.md
run_q "discarded, the run goes on" 0 run
check "quire's version is under the new name" test -f out/Book.txt
# An adoption refused because of another file leaves nothing behind that would make the
# writer's text look like quire's (an unreferenced blob of it used to).
cd "$TRASH" && new_story t
run_q "a fresh project" 0 run
echo "MINE" >>out/Chapter-1.md
echo "MINE2" >>out/Scene-0-0.md
run_q "adopting one file while another is a hand edit" 7 edit 'Chapter[1]' --file out/Chapter-1.md
check "names the other file" err_has "out/Scene-0-0.md"
run_q "a run refuses both" 7 run
check "Chapter-1.md still holds the writer's line" grep -q "^MINE$" out/Chapter-1.md
run_q "gc" 0 gc
check "and still after gc" grep -q "^MINE$" out/Chapter-1.md
rm out/Scene-0-0.md
run_q "with the other file gone, the run still refuses Chapter-1.md" 7 run
check "naming it" err_has "out/Chapter-1.md"
check "which still holds the writer's line" grep -q "^MINE$" out/Chapter-1.md
# An older output of quire's in out/ (a run killed while it rewrote out/): quire's text, which
# an edit and a rewind replace as a run does, and never half-commit over.
cd "$TRASH" && new_story old
run_q "a fresh project" 0 run
cp out/Scene-0-0.md "$TRASH/older.md"
sed -i 's/^Tone: .*/Tone: eerie/' inputs.yaml
run_q "a run that changes the scene" 0 run
cp "$TRASH/older.md" out/Scene-0-0.md
recorded() { python3 -c 'import json,sys; print(json.load(open("'"$(current_json)"'"))["artefacts"][sys.argv[1]]["digest"])' "$1"; }
run_q "an edit with an older output of quire's in out/" 0 edit --set Scenes=2
is "puts quire's current version back" "sha256:$(sha256sum <out/Scene-0-0.md | cut -d' ' -f1)" "$(recorded 'Scene[0][0]')"
cp "$TRASH/older.md" out/Scene-0-0.md
run_q "a rewind with an older output of quire's in out/" 0 rewind current~1 --yes
is "puts that revision's version there" "sha256:$(sha256sum <out/Scene-0-0.md | cut -d' ' -f1)" "$(recorded 'Scene[0][0]')"
done_testing
