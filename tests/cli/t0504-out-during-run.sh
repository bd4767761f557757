#!/bin/bash
# A run looks at out/ once, before it starts: its sync after the commit writes what changed
# and what that look found missing, and leaves the files it found in place alone. A file
# changed by hand while the run works is never overwritten; the next command finds it (and
# writes back one removed meanwhile). A file found in place under a name the artefact no
# longer has is no file found: the new name is written.
. "$(dirname "$0")/lib.sh"
mkdir p && cd p && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: during
producers:
  A: { role: w, prompt: prompts/a.md }
  B: { role: w, prompt: prompts/b.md }
  C: { role: w, prompt: prompts/c.md }
  D: { role: w, prompt: prompts/d.md }
  E: { role: echo, prompt: prompts/e.md }
YAML
printf 'quire: 1\nroles:\n  w: { provider: mock }\n  echo: { provider: mock, params: { mode: echo } }\n' >quire.yaml
: >inputs.yaml
for x in a b c d e; do echo "write $x" >prompts/$x.md; done
run_q "a first build" 0 run
b_before=$(cat out/B.md)
c_before=$(cat out/C.md)
d_before=$(cat out/D.md)
rm out/D.md
echo "write b again" >prompts/b.md
QUIRE_MOCK_LATENCY_MS=3000 "$QUIRE" run --json >"$TRASH/.out" 2>"$TRASH/.err" &
pid=$!
# Once B has started, the run has looked at out/.
for _ in $(seq 300); do
	grep -q '"event":"start"' "$TRASH/.out" 2>/dev/null && break
	sleep 0.1
done
echo "my own words" >>out/A.md
rm out/C.md
wait $pid
is "the run ends well" "$?" 0
check "it wrote what it made" test "$(cat out/B.md)" != "$b_before"
is "and what its first look found missing" "$(cat out/D.md)" "$d_before"
is "the words written meanwhile are kept" "$(tail -1 out/A.md)" "my own words"
run_q "the next run finds the hand edit" 7 run
check "names it" err_has "out/A.md"
is "still not overwritten" "$(tail -1 out/A.md)" "my own words"
is "and writes back the file removed meanwhile" "$(cat out/C.md)" "$c_before"
run_q "nothing was generated again" 7 run --json
is "no step ran" "$(count_events produced)" 0
rm out/A.md

# E made again under a new extension, with the same bytes: written under its new name.
sed -i 's|  E: { role: echo, prompt: prompts/e.md }|  E: { role: echo, prompt: prompts/e.md, output: { ext: txt } }|' blueprint.yaml
run_q "E's extension changed" 0 run --json
check "E ran again" grep -q '"event":"produced","id":"E"' "$TRASH/.out"
is "its file has the new name" "$(cat out/E.txt 2>/dev/null)" "write e"
check "the old name is gone" test ! -e out/E.md
done_testing
