#!/bin/bash
# Changing one input or one prompt re-runs exactly the instances that depend on it; going back
# to an earlier value restores from the action cache without generating anything.
. "$(dirname "$0")/lib.sh"
cp -r "$FIXTURES/narrow" n && cd n

run_q "first run" 0 run --json
is "4 produced (X, Y[0], Y[1], Z)" "$(count_events produced)" 4

sed -i 's/^B: beta/B: gamma/' inputs.yaml
run_q "plan after changing B" 0 plan --json
check "exactly Y[0], Y[1] and Z are dirty" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert sorted(i["id"] for i in d["instances"])==["Y[0]","Y[1]","Z"], d' "$TRASH/.out"
run_q "run after changing B" 0 run --json
is "only what uses B re-ran" "$(event_ids produced)" "Y[0] Y[1] Z"

cp prompts/x.md x.orig
echo 'Write, briefly, about {{A}}.' >prompts/x.md
run_q "plan after editing X's prompt" 0 plan
check "the reason is the prompt" out_has "X  prompt changed"
run_q "run after editing X's prompt" 0 run --json
is "only X and Z re-ran" "$(event_ids produced)" "X Z"

# B back with X's new prompt: Y comes from the cache, Z is a combination never made before.
sed -i 's/^B: gamma/B: beta/' inputs.yaml
run_q "run after changing B back" 0 run --json
is "Y[0], Y[1] restored from the cache" "$(event_ids cached)" "Y[0] Y[1]"
is "only the new combination Z was generated" "$(event_ids produced)" "Z"
# And the prompt back too: the very first build, entirely from the cache.
cp x.orig prompts/x.md
run_q "run after restoring the first state" 0 run --json
is "nothing generated" "$(count_events produced)" 0
is "everything restored from the cache" "$(event_ids cached)" "X Z"
run_q "out/ matches the first build" 0 plan --check

# Binding change: the model of role 'writer' changes X and Y, not the echo joiner's own binding.
sed -i 's/model: m1/model: m2/' quire.yaml
run_q "plan after rebinding writer" 0 plan --explain
check "the binding is named" out_has "binding changed: writer"
run_q "run after rebinding" 0 run --json
is "X and both Y re-ran, then Z" "$(event_ids produced)" "X Y[0] Y[1] Z"

# The story: one prompt edit touches one producer and what is downstream of it.
cd "$TRASH" && new_story s
run_q "story first run" 0 run --json
echo "Make it short." >>prompts/scene.md
run_q "story run after editing the scene prompt" 0 run --json
is "6 scenes and the book re-ran" "$(count_events produced)" 7
check "no chapter re-ran" sh -c "! grep -q 'Chapter' '$TRASH/.out'"
echo "" >>prompts/book.md
run_q "story run after editing the book prompt" 0 run --json
is "only the book re-ran" "$(event_ids produced)" "Book"
done_testing
