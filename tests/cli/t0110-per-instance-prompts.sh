#!/bin/bash
# Per-instance prompt files: a prompt path may name loop variables; each instance reads (and is
# fingerprinted by) its own file, so editing one re-runs just that instance and what uses it.
. "$(dirname "$0")/lib.sh"
cp -r "$FIXTURES/narrow" n && cd n
sed -i 's|prompt: prompts/y.md|prompt: prompts/y-{{i}}.md|' blueprint.yaml
sed -i 's/writer: { provider: mock, model: m1 }/writer: { provider: mock, params: { mode: echo } }/' quire.yaml
echo 'first part about {{B}}' >prompts/y-0.md
echo 'second part about {{B}}' >prompts/y-1.md
run_q "a run with per-instance prompts" 0 run --json
is "Y[0] used its own prompt" "$(cat out/Y-0.md)" "first part about beta"
is "Y[1] used its own prompt" "$(cat out/Y-1.md)" "second part about beta"
echo 'the second part, revised, about {{B}}' >prompts/y-1.md
run_q "plan after editing one instance's prompt" 0 plan
check "that instance's prompt changed" out_has "Y[1]  prompt changed"
run_q "run" 0 run --json
is "just it and the collector re-ran" "$(event_ids produced)" "Y[1] Z"
sed -i 's/^N: 2/N: 3/' inputs.yaml
run_q "a new instance without its prompt file" 3 plan
check "names the producer and the file" err_has "producer 'Y' names 'prompts/y-2.md', which does not exist"
echo 'third part about {{B}}' >prompts/y-2.md
run_q "with the file it runs" 0 run --json
is "the new instance and the collector" "$(event_ids produced)" "Y[2] Z"
echo 'oops {{Bee}}' >prompts/y-0.md
run_q "a typo in one instance's prompt is positioned" 3 plan
check "file:line:col" err_has "prompts/y-0.md:1:6: unknown name 'Bee'"
echo 'first part about {{B}}' >prompts/y-0.md
run_q "fixed, it plans" 0 plan
# Files that passed are remembered by content: a change to one is still checked, the others
# are not parsed again, and a blueprint change checks every file against it.
echo 'third part about {{Cee}}' >prompts/y-2.md
run_q "a typo in another instance's prompt, the rest unchanged" 3 plan
check "is found and positioned" err_has "prompts/y-2.md:1:18: unknown name 'Cee'"
echo 'third part about {{B}}' >prompts/y-2.md
run_q "back to what passed before" 0 plan
sed -i 's/uses: \[B\]/uses: [A]/' blueprint.yaml
run_q "the blueprint stops giving Y the input its unchanged prompts name" 3 plan
check "every file is checked again" err_has "prompts/y-0.md:1:18: 'B' is not in the uses of producer 'Y'"
sed -i 's/    uses: \[A\]$/    uses: [B]/; 0,/uses: \[B\]/s//uses: [A]/' blueprint.yaml
run_q "restored" 0 plan
# What passed is kept in .quire/runs/template-checks, one line per (content, producer): a run
# appends a line for a changed prompt, and a blueprint change starts the file again.
run_q "a run records the checks" 0 run
lines() { wc -l <.quire/runs/template-checks; }
check "under a header naming quire and the blueprint" grep -q "^quire-template-checks 1 " .quire/runs/template-checks
n1=$(lines)
echo 'the second part, revised again, about {{B}}' >prompts/y-1.md
run_q "one prompt changed" 0 run
is "one line appended" "$(lines)" "$((n1 + 1))"
sed -i '$ d' .quire/runs/template-checks
truncate -s -3 .quire/runs/template-checks
echo 'the second part, once more, about {{B}}' >prompts/y-1.md
run_q "after a line was cut short" 0 run
check "the file is whole again" sh -c '[ $(( ($(stat -c %s .quire/runs/template-checks) - $(head -1 .quire/runs/template-checks | wc -c)) % 69 )) -eq 0 ]'
sed -i 's|prompts/y-{{i}}.md|prompts/y-{{k}}.md|' blueprint.yaml
run_q "an unknown variable in a prompt path" 3 plan
check "is refused with the blueprint position" err_has "a prompt path may use only the loop variables of producer 'Y'"
done_testing
