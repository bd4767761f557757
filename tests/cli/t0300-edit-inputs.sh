#!/bin/bash
# quire edit on inputs: --set (typed, validated), $EDITOR, --from an export; inputs.yaml keeps
# every other byte; each edit is a revision; invalid edits change nothing.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
printf '# my own note about the tone\n' >>inputs.yaml
cp inputs.yaml before.yaml
run_q "set two inputs" 0 edit --set Tone=eerie --set Scenes=3
check "says what changed" out_has "edit: Tone = \"eerie\""
check "and commits a revision" out_has "edit: committed $(rev 2)"
check "only the two values changed in inputs.yaml" sh -c "diff before.yaml inputs.yaml | grep '^[<>]' | sort | tr '\n' '|' | grep -qx '< Scenes: 2|< Tone: warm|> Scenes: 3|> Tone: eerie|'"
check "comments survived" grep -q '# my own note about the tone' inputs.yaml
run_q "the plan sees them" 0 plan --explain
check "input changed: Tone" out_has "input changed: Tone"
check "new scenes" out_has "Scene[2][2]"
run_q "the revision records the event" 0 inspect --json
check "manifest inputs hold the new values" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["inputs"]["Tone"]["value"]=="eerie" and d["inputs"]["Scenes"]["value"]==3, d["inputs"]
assert d["command"].startswith("quire edit --set Tone=eerie")' "$TRASH/.out"

cp inputs.yaml before.yaml
state=$(store_state)
run_q "a wrong type is refused" 3 edit --set Scenes=many
check "naming the input" err_has "input 'Scenes' must be an integer, not 'many'"
run_q "out of range is refused" 3 edit --set Chapters=0
run_q "an unknown input is refused" 3 edit --set Scens=2
check "with a did-you-mean" err_has "unknown input 'Scens' (did you mean 'Scenes'?)"
run_q "an enum value outside the list is refused" 3 edit --set Tone=grim
check "listing the choices" err_has "must be one of 'warm', 'wry', 'eerie', 'bright'"
run_q "a malformed --set is refused" 3 edit --set Tone
check "inputs.yaml is unchanged" cmp -s before.yaml inputs.yaml
is "no revision was made" "$(store_state)" "$state"

# $EDITOR: a scripted editor rewrites the value.
cat >"$TRASH/ed.sh" <<'SH'
#!/bin/sh
printf 'A lighthouse keeper befriends a storm.\n' >"$1"
SH
chmod +x "$TRASH/ed.sh"
EDITOR="$TRASH/ed.sh" run_q "edit an input in \$EDITOR" 0 edit Premise
check "the new value is set" grep -q '^Premise: A lighthouse keeper befriends a storm.$' inputs.yaml
check "the old folded lines are gone" sh -c '! grep -q "and decides to answer them" inputs.yaml'
EDITOR=false run_q "a failing editor changes nothing" 3 edit Title
check "it says so" err_has "the editor 'false' exited with status 1; nothing was changed"
is "on one line, no empty message" "$(grep -c . "$TRASH/.err")" 1
EDITOR=no-such-editor-here run_q "an editor that is not installed" 3 edit Title
check "is named as not found" err_has "the editor 'no-such-editor-here' was not found (set VISUAL or EDITOR)"

# A multi-line value is written as a block and reads back exactly.
printf '#!/bin/sh\nprintf "line one\\n  indented two\\nthree\\n" >"$1"\n' >"$TRASH/ed2.sh"
chmod +x "$TRASH/ed2.sh"
EDITOR="$TRASH/ed2.sh" run_q "a multi-line value" 0 edit Premise
run_q "reads back" 0 inspect --json
check "the value is exact" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["inputs"]["Premise"]["value"]=="line one\n  indented two\nthree\n", repr(d["inputs"]["Premise"]["value"])' "$TRASH/.out"

# Export, edit the file, take it back.
run_q "export inputs and prompts" 0 inspect --export "$TRASH/exp.yaml"
check "the export has inputs and prompts" sh -c "grep -q '^inputs:' '$TRASH/exp.yaml' && grep -q '  prompts/scene.md: |' '$TRASH/exp.yaml'"
sed -i 's/^  Scenes: 3/  Scenes: 1/; s/Rewrite scene/Retell scene/' "$TRASH/exp.yaml"
run_q "edit --from takes it back" 0 edit --from "$TRASH/exp.yaml"
check "the input changed" grep -q '^Scenes: 1$' inputs.yaml
check "the prompt file changed" grep -q 'Retell scene' prompts/scene.md
sed -i 's/^  Scenes: 1/  Scenes: none/' "$TRASH/exp.yaml"
run_q "a bad value in the file is a positioned error" 3 edit --from "$TRASH/exp.yaml"
line=$(grep -n '^  Scenes:' "$TRASH/exp.yaml" | cut -d: -f1)
check "file:line:col" err_has "exp.yaml:$line:11: input 'Scenes' must be an integer"
sed -i 's/^  Scenes: none/  Scenes: 1/; s/^  prompts\/scene.md:/  prompts\/nope.md:/' "$TRASH/exp.yaml"
run_q "an unknown prompt path is refused" 3 edit --from "$TRASH/exp.yaml"
check "naming it" err_has "'prompts/nope.md' is not a prompt or schema the blueprint names"
run_q "then a run" 0 run
run_q "up to date" 0 plan --check
done_testing
