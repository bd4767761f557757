#!/bin/bash
# File inputs: a canon file in the project, named by inputs.yaml, read by templates whole or by
# a Markdown heading's section, fingerprinted by its content (not its name), edited in
# $EDITOR, kept with each run (a rewind restores it) and carried by inspect --export.
. "$(dirname "$0")/lib.sh"
q init s >/dev/null && cd s || exit 1
sed -i 's/    model: mock-writer/    params: { mode: echo }/' quire.yaml
sed -i 's/^  Scenes:   { type: int, default: 2, min: 1, max: 500 }$/&\n  Canon:    { type: file, default: canon.md }/' blueprint.yaml
sed -i 's/^      - Outline$/      - Outline\n      - Canon/' blueprint.yaml
sed -i 's/^Write chapter {{i+1}}/Who is who:\n{{Canon | section "Characters"}}\n\n&/' prompts/chapter.md
grep -q "type: file" blueprint.yaml || echo "Bail out! the blueprint was not changed"
run_q "a file input whose file is missing" 3 plan
check "names the default's position, the file and what to do" \
	err_has "blueprint.yaml:14:3 (its default): input 'Canon' names 'canon.md', which does not exist (create it, or point Canon at another file)"
cat >canon.md <<'EOF'
# Canon

## Characters
Ada, the keeper. Bo, the postman.

## Places
The lighthouse; the harbour.
EOF
run_q "with the file, a run" 0 run
check "the chapter read the Characters section" grep -q "^Ada, the keeper. Bo, the postman.$" out/Chapter-0.md
check "and only it" sh -c '! grep -q "The lighthouse; the harbour." out/Chapter-0.md'
run_q "nothing to do" 0 plan
check "up to date" out_has "plan: nothing to do"

# Its content is what counts: a change re-runs what reads it, a rename does not.
mkdir notes && mv canon.md notes/lore.md
echo "Canon: notes/lore.md" >>inputs.yaml
run_q "the same text under another name" 0 plan
check "changes nothing" out_has "plan: nothing to do"
sed -i 's/Bo, the postman./Bo, the postman; Cy, the cat./' notes/lore.md
run_q "a changed character list" 0 plan --explain
check "re-runs the chapters that read it" out_has "input changed: Canon"
run_q "run" 0 run --json
check "Cy reached the chapters" grep -q "Cy, the cat." out/Chapter-2.md
run_q "inspect shows the file input's value as its path" 0 inspect --json
check "in the revision" python3 -c '
import json,sys; m=json.load(open("'"$(revjson 2)"'"))
assert m["inputs"]["Canon"]["value"]=="notes/lore.md", m["inputs"]["Canon"]
assert "notes/lore.md" in m["files"], sorted(m["files"])'

# Bad names, positioned.
sed -i 's|^Canon: notes/lore.md|Canon: notes/nope.md|' inputs.yaml
run_q "a file input naming a missing file" 3 plan
check "positioned in inputs.yaml" err_has "inputs.yaml:"
check "names it" err_has "input 'Canon' names 'notes/nope.md', which does not exist"
sed -i 's|^Canon: notes/nope.md|Canon: ../outside.md|' inputs.yaml
run_q "outside the project" 3 plan
check "refused" err_has "input 'Canon' must name a file inside the project"
sed -i 's|^Canon: ../outside.md|Canon: out/Book.md|' inputs.yaml
run_q "in out/" 3 plan
check "refused too" err_has "(not in .quire or out/, which quire writes)"
echo "secret plans" >../outside.md
ln -s ../../outside.md notes/evil.md
mkfifo notes/pipe.md
sed -i 's|^Canon: out/Book.md|Canon: notes/evil.md|' inputs.yaml
run_q "a link that leaves the project" 3 plan
check "refused, saying why" err_has "input 'Canon' must name a regular file inside the project; 'notes/evil.md' is a link that leaves it"
run_q "inspect --export does not read it either" 3 inspect --export ../leak.yaml
check "nothing of it written" sh -c '! grep -qs "secret plans" ../leak.yaml'
sed -i 's|^Canon: notes/evil.md|Canon: notes/pipe.md|' inputs.yaml
run_q "a FIFO" 3 plan
check "refused without blocking" err_has "'notes/pipe.md' is not a regular file"
rm notes/evil.md notes/pipe.md
sed -i 's|^Canon: notes/pipe.md|Canon: notes/lore.md|' inputs.yaml

# --set names another file; the editor edits the file itself.
run_q "edit --set a file that is not there" 3 edit --set Canon=nope.md
check "refused" err_has "input 'Canon' names a file: 'nope.md' is not a file in the project"
cp notes/lore.md notes/lore2.md
echo "A note." >>notes/lore2.md
run_q "edit --set another file" 0 edit --set Canon=notes/lore2.md
check "inputs.yaml names it" grep -qE "^Canon: \"?notes/lore2.md\"?$" inputs.yaml
cat >../ed.sh <<'EOF'
#!/bin/sh
sed -i 's/Ada, the keeper./Ada, the keeper (retired)./' "$1"
EOF
chmod +x ../ed.sh
EDITOR=../ed.sh run_q "quire edit Canon opens the file" 0 edit Canon
check "says which" out_has "edit: Canon is the file notes/lore2.md; the next run reads what you saved"
check "the file was edited" grep -q "(retired)" notes/lore2.md
run_q "run" 0 run
check "the chapters read it" grep -q "Ada, the keeper (retired)." out/Chapter-0.md

# A rewind brings the file's text back, as it does a prompt's.
before=$(cat notes/lore2.md)
echo "## Timeline" >>notes/lore2.md
run_q "a run with one more section" 0 run
run_q "rewind to before it" 0 rewind current~1 --yes
is "the file is as it was" "$(cat notes/lore2.md)" "$before"

# inspect --export carries the file's text; edit --from writes it back.
run_q "export" 0 inspect --export ../x.yaml
check "the input as its path" grep -qE "^  Canon: \"?notes/lore2.md\"?$" ../x.yaml
check "the file with the prompts" grep -q "^  notes/lore2.md: " ../x.yaml
sed -i 's/Cy, the cat./Cy, the old cat./' ../x.yaml
run_q "edit --from" 0 edit --from ../x.yaml
check "rewrote the file" grep -q "Cy, the old cat." notes/lore2.md
check "said so" out_has "edit: notes/lore2.md rewritten"
done_testing
