#!/bin/bash
# A run looks at out/ once, before it starts: its sync after the commit writes what changed
# and what that look found missing, and leaves the files it found in place alone. A file
# changed by hand while the run works is never overwritten; the next command finds it (and
# writes back one removed meanwhile).
. "$(dirname "$0")/lib.sh"
mkdir p && cd p && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: during
producers:
  A: { role: w, prompt: prompts/a.md }
  B: { role: w, prompt: prompts/b.md }
  C: { role: w, prompt: prompts/c.md }
  D: { role: w, prompt: prompts/d.md }
YAML
printf 'quire: 1\nroles:\n  w: { provider: mock }\n' >quire.yaml
: >inputs.yaml
for x in a b c d; do echo "write $x" >prompts/$x.md; done
run_q "a first build" 0 run
b_before=$(cat out/B.md)
c_before=$(cat out/C.md)
d_before=$(cat out/D.md)
rm out/D.md
echo "write b again" >prompts/b.md
QUIRE_MOCK_LATENCY_MS=1500 "$QUIRE" run >"$TRASH/.out" 2>"$TRASH/.err" &
pid=$!
sleep 0.7
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
done_testing
