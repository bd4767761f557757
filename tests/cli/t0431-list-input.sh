#!/bin/bash
# List inputs: per-page notes in inputs.yaml, read by index from a fan-out ({{PageNotes[p]}},
# nothing for a page without one); each page's fingerprint holds only the note it reads, so
# editing one note re-runs that page only; edit --set 'PageNotes[N]=...' sets or adds one;
# inspect --export and edit --from carry the list.
. "$(dirname "$0")/lib.sh"
q init c --blueprint comic >/dev/null && cd c || exit 1
sed -i 's/^  Panels:  { type: int, default: 3, min: 1, max: 12 }$/&\n  PageNotes: { type: list }/' blueprint.yaml
sed -i '0,/      - Panels$/s//      - Panels\n      - PageNotes/' blueprint.yaml
printf '{{#if PageNotes[p]}}\nA note for this page: {{PageNotes[p]}}\n{{/if}}\n' >>prompts/page.md
grep -q "type: list" blueprint.yaml || echo "Bail out! the blueprint was not changed"
cat >>inputs.yaml <<'EOF'
PageNotes:
  - The storm arrives.   # page 1
  - "Quiet: the cat sleeps."
EOF
sed -i 's/^Pages: 2/Pages: 3/' inputs.yaml
run_q "plan with per-page notes" 0 plan
run_q "run" 0 run
run_q "inspect Page[0]'s record" 0 inspect 'Page[0]' --json
check "names only its own note" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); ins=d["deps"]["inputs"]
assert "PageNotes[0]" in ins and "PageNotes[1]" not in ins and "PageNotes" not in ins, ins' "$TRASH/.out"
run_q "inspect Page[2] (no note)" 0 inspect 'Page[2]' --json
check "its missing note counts as missing" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert "PageNotes[2]" in d["deps"]["inputs"], d["deps"]["inputs"]' "$TRASH/.out"

# Editing one note re-runs that page (and what follows from it) only.
run_q "set the second note" 0 edit --set 'PageNotes[1]=Quiet: the cat dreams.'
check "inputs.yaml holds it, the first item and its comment kept" sh -c '
	grep -q "^  - The storm arrives.   # page 1$" inputs.yaml && grep -q "the cat dreams" inputs.yaml'
run_q "plan --explain" 0 plan --explain
check "Page[1] for its note" out_has "input changed: PageNotes[1]"
check "Page[0] untouched" out_lacks "Page[0] "
run_q "add a third note" 0 edit --set 'PageNotes[2]=The bottle washes up.'
run_q "plan after it" 0 plan --explain
check "Page[2] for its new note" out_has "input changed: PageNotes[2]"
run_q "a note past the end" 3 edit --set 'PageNotes[5]=far away'
check "says how many there are" err_has "input 'PageNotes' has 3 items: set PageNotes[0] to PageNotes[3]"
run_q "the whole list with --set" 3 edit --set 'PageNotes=one'
check "points at items" err_has "input 'PageNotes' is a list: set one item with --set 'PageNotes[N]=TEXT'"
run_q "an item of a text input" 3 edit --set 'Premise[0]=x'
check "refused" err_has "input 'Premise' is not a list"

# $EDITOR on a list would hand back text quire cannot take as a list: refused before it opens.
cat >../ed.sh <<'EOF2'
#!/bin/sh
echo "edited" >>"$1"
touch "$(dirname "$0")/editor-ran"
EOF2
chmod +x ../ed.sh
EDITOR=../ed.sh run_q "quire edit on a list input" 3 edit PageNotes
check "points at items and inputs.yaml" err_has "input 'PageNotes' is a list: set one item with --set 'PageNotes[N]=TEXT'"
check "and never ran the editor (whose work would be lost)" test ! -e ../editor-ran

# A template that reads the list whole counts every note.
sed -i '0,/      - Page\[p\]$/s//      - Page[p]\n      - PageNotes/' blueprint.yaml
printf 'All notes: {{PageNotes | join "; "}}\n' >>prompts/narration.md
run_q "narration reading every note" 0 plan --explain
check "its definition changed, and it reads every note" python3 -c '
import sys; t=open(sys.argv[1]).read(); assert "Narration[0]" in t and "Narration[1]" in t, t' "$TRASH/.out"
run_q "run the narration" 0 run
run_q "inspect Narration[0]'s record" 0 inspect 'Narration[0]' --json
check "names the whole list, not items" python3 -c '
import json,sys; ins=json.load(open(sys.argv[1]))["deps"]["inputs"]
assert "PageNotes" in ins and not any(k.startswith("PageNotes[") for k in ins), ins' "$TRASH/.out"

# Export and back.
run_q "export" 0 inspect --export ../x.yaml
check "the list, one item per line" grep -q "^    - The bottle washes up.$" ../x.yaml
sed -i 's/    - The bottle washes up./    - The bottle is empty./' ../x.yaml
run_q "edit --from" 0 edit --from ../x.yaml
check "inputs.yaml has it" grep -q "The bottle is empty." inputs.yaml
check "the others kept" grep -q "The storm arrives." inputs.yaml

# Bad lists, positioned.
python3 - <<'PY'
t=open("inputs.yaml").read(); i=t.index("PageNotes:")
open("inputs.yaml","w").write(t[:i] + "PageNotes: just one\n")
PY
run_q "a list input given a scalar" 3 plan
check "is refused with its position" err_has "input 'PageNotes' must be a list of texts"
done_testing
