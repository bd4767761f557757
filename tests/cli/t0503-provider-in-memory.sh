#!/bin/bash
# A provider that answers in memory (QUIRE_PROVIDER_IN_MEMORY, as the mock does) is handed no
# file, and its answer goes through everything a file's does: reasoning dropped, JSON taken
# out of a fence and checked, a cut-off answer kept as the failure's partial, no answer a
# failure; what it made is stored, verified and written to out/.
. "$(dirname "$0")/lib.sh"
: "${QUIRE_TEST_PLUGINS:?}"
export QUIRE_PLUGIN_PATH="$QUIRE_TEST_PLUGINS"
mkdir p && cd p && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: inmem
inputs:
  Name: { type: text, default: "ada" }
producers:
  Plain:   { role: w, prompt: prompts/plain.md, uses: [Name] }
  Thought: { role: w, prompt: prompts/thought.md }
  Data:    { role: w, prompt: prompts/data.md, output: { type: json } }
  NotJson: { role: w, prompt: prompts/notjson.md, output: { type: json } }
  Cut:     { role: w, prompt: prompts/cut.md }
  Nothing: { role: w, prompt: prompts/nothing.md }
  Big:     { role: w, prompt: prompts/big.md }
  After:   { role: w, prompt: prompts/after.md, uses: [Plain, Big] }
  Twin:    { role: w, prompt: prompts/twin.md, uses: [Name] }
YAML
printf 'quire: 1\nroles:\n  w: { provider: inmem, retries: 0 }\n' >quire.yaml
echo "Name: ada" >inputs.yaml
echo 'hello, {{Name}}!' >prompts/plain.md
echo 'hello, {{Name}}!' >prompts/twin.md
printf '<think>plan the answer</think>\n\nthe answer\n' >prompts/thought.md
printf 'Here it is:\n```json\n{"a": 1}\n```\nHope it helps.\n' >prompts/data.md
printf 'no JSON here at all\n' >prompts/notjson.md
printf 'a long answer that was CUT off\n' >prompts/cut.md
printf 'none of it\n' >prompts/nothing.md
python3 -c 'print("x" * 9000)' >prompts/big.md
printf '{{Plain}}|{{Big}}' >prompts/after.md

run_q "a run through an in-memory provider" 1 run --json
is "its answer is the output, byte for byte" "$(cat out/Plain.md)" "hello, ada!"
is "a leading reasoning block is dropped" "$(cat out/Thought.md)" "the answer"
is "JSON is taken out of its fence" "$(cat out/Data.json)" '{"a": 1}'
check "an answer with no JSON in it fails" grep -q '"id":"NotJson".*not valid JSON' "$TRASH/.out"
check "a cut-off answer fails as truncated" grep -q '"id":"Cut".*truncated' "$TRASH/.out"
check "an answer of nothing fails, saying so" grep -q '"id":"Nothing".*provider gave no output' "$TRASH/.out"
check "no provider was handed a file" out_lacks "was handed a file"
check "a large answer (a file of its own in the store) is stored whole" \
	cmp out/Big.md prompts/big.md
is "and read by what uses it" "$(wc -c <out/After.md)" $(( $(wc -c <out/Plain.md) + 1 + 9001 ))
run_q "inspect the cut-off answer" 0 inspect Cut --json
check "its text is kept as the failure's partial" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
assert d["status"]=="failed" and d["truncated"] is True and d["partial"].startswith("sha256:"), d
' "$TRASH/.out"
partial=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["partial"])' "$TRASH/.out")
is "the partial holds what the provider said" "$(blob_text "$partial")" "a long answer that was CUT off"
run_q "inspect shows the call's record" 0 inspect Plain --json
check "with its prompt and usage" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))["call_record"]
assert d["prompt"]["text"]=="hello, ada!\n" and d["usage"]["tokens_in"]==12, d' "$TRASH/.out"
run_q "fsck finds every stored output whole" 0 fsck
run_q "the next run makes only what failed" 1 run --json
is "nothing made twice" "$(count_events produced)" 0

# A stored copy damaged (a power loss) and the same bytes made again: the new ones are kept.
plain=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' \
	<(q inspect Plain --json))
blob_damage "$plain" "jello" || exit 2
echo 'hello, {{ Name }}!' >prompts/twin.md
run_q "Twin's prompt reworded, the same answer" 1 run --json
check "made again" grep -q '"event":"produced","id":"Twin"' "$TRASH/.out"
is "what is stored is the answer, not the damaged copy" "$(blob_text "$plain")" "hello, ada!"
run_q "fsck finds nothing damaged" 0 fsck
done_testing
