#!/bin/bash
# What the runner does with every provider's answer before storing it: an answer cut off by a
# length limit fails as truncated (never retried, its text kept as the failure's partial, a
# message saying how to raise the limit); reasoning blocks (<think>, <reasoning>, per role)
# are dropped before the output is stored and parsed; JSON in prose or a fence is taken out.
. "$(dirname "$0")/lib.sh"
KEY=sk-test-quire-7c1d44
export OPENAI_API_KEY=$KEY
start_fake_openai "$KEY"
count() { fake_count "$1"; }

# An external provider that says its answer was cut off, and one that thinks aloud.
mkdir bin
cat >bin/quire-provider-cut <<'PY'
#!/usr/bin/env python3
import json, sys
req = json.loads(sys.stdin.readline())
if "THINK" in req["prompt"]:
    print(json.dumps({"type": "result", "ok": True, "content": "<THINK>plan it</THINK>\n\nDone thinking.",
                      "tokens_in": 3, "tokens_out": 5}))
else:
    print(json.dumps({"type": "result", "ok": True, "content": "half a sent", "tokens_in": 3,
                      "tokens_out": 5, "meta": {"truncated": True}}))
PY
chmod +x bin/quire-provider-cut
export PATH="$TRASH/bin:$PATH"

mkdir -p p/prompts p/schemas && cd p || exit 1
cat >blueprint.yaml <<'EOF'
blueprint: hygiene
inputs:
  Subject: { type: text, default: "a lighthouse keeper" }
  Long:    { type: text, default: "" }
producers:
  CutOff:     { role: writer, prompt: prompts/cutoff.md, uses: [Subject] }
  CutOffJson: { role: writer, prompt: prompts/cutoffjson.md, uses: [Subject],
                output: { type: json, schema: schemas/outline.json } }
  Reasoned:   { role: writer, prompt: prompts/reasoning.md, uses: [Subject] }
  Kept:       { role: keeper, prompt: prompts/reasoning.md, uses: [Subject] }
  Prose:      { role: writer, prompt: prompts/prosejson.md, uses: [Subject],
                output: { type: json } }
  After:      { role: writer, prompt: prompts/after.md, uses: [CutOff] }
  ExtCut:     { role: ext, prompt: prompts/ext.md, uses: [Subject] }
  ExtThink:   { role: ext, prompt: prompts/extthink.md, uses: [Subject] }
  Denied:     { role: writer, prompt: prompts/unauthorized.md, uses: [Subject] }
  Spent:      { role: writer, prompt: prompts/cutoffempty.md, uses: [Subject] }
  Latin:      { role: writer, prompt: prompts/latin1.md, uses: [Subject] }
  Big:        { role: writer, prompt: prompts/big.md, uses: [Long] }
EOF
for c in cutoff cutoffjson reasoning prosejson unauthorized cutoffempty latin1; do
	printf 'case:%s\nWrite one sentence about {{Subject}}.\n' "$c" >"prompts/$c.md"
done
printf 'case:plain\n{{CutOff}}\n' >prompts/after.md
printf 'case:plain\n{{Long}}\n' >prompts/big.md
printf 'cut {{Subject}}\n' >prompts/ext.md
printf 'THINK about {{Subject}}\n' >prompts/extthink.md
cat >schemas/outline.json <<'EOF'
{ "type": "object", "required": ["title", "beats"],
  "properties": { "title": { "type": "string" }, "beats": { "type": "array" } } }
EOF
cat >quire.yaml <<EOF
quire: 1
roles:
  writer: { provider: openai, model: fake, retries: 3, retry_base_ms: 10,
            params: { base_url: "http://127.0.0.1:$PORT/v1" } }
  keeper: { provider: openai, model: fake, reasoning: [],
            params: { base_url: "http://127.0.0.1:$PORT/v1" } }
  ext:    { provider: cut, retries: 3, retry_base_ms: 10 }
EOF
python3 -c 'print("Long: " + "word " * 14000)' >inputs.yaml
run_q "a run with cut-off answers" 1 run --json
is "CutOff failed" "$(grep -c '"event":"failed","id":"CutOff"' "$TRASH/.out")" 1
check "as truncated, saying how to raise the limit" python3 -c '
import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="failed" and e["id"]=="CutOff":
        m=e["message"]
        assert m.startswith("truncated: the answer was cut off by its length limit (finish_reason: length) after 16 output tokens"), m
        assert "role '"'"'writer'"'"' in quire.yaml" in m and "max_tokens" in m, m
        sys.exit(0)
sys.exit(1)' "$TRASH/.out"
is "called once, never retried" "$(count cutoff)" 1
is "the cut-off JSON called once too" "$(count cutoffjson)" 1
is "what used it is blocked, not generated" "$(grep -c '"event":"blocked","id":"After"' "$TRASH/.out")" 1
is "an answer cut off before any text: called once, not retried" "$(count cutoffempty)" 1
run_q "inspect it" 0 inspect Spent --json
check "truncated, its usage counted" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["truncated"] is True and "truncated:" in d["error"], d
assert d["call_record"]["usage"]["tokens_out"]==4096, d' "$TRASH/.out"
run_q "inspect the cut-off answer" 0 inspect CutOff --json
check "its text is kept as the failure's partial, and the error says truncated" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
assert d["status"]=="failed" and d["truncated"] is True and d["partial"].startswith("sha256:"), d
' "$TRASH/.out"
partial=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["partial"])' "$TRASH/.out")
check "readable from the store" sh -c "$(declare -f blob_sql blob_text); blob_text $partial | grep -q found"
run_q "gc keeps it" 0 gc
check "still there" blob_has "$partial"
run_q "inspect the cut-off JSON" 0 inspect CutOffJson --json
check "kept too, not lost with the error" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); assert d["partial"].startswith("sha256:"), d' "$TRASH/.out"
run_q "an external provider's truncated: true" 0 inspect ExtCut --json
check "is truncated as well" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); assert d["truncated"] is True and "truncated: true" in d["error"], d' "$TRASH/.out"

is "reasoning dropped from a writer's answer" "$(cat ../p/out/Reasoned.md)" "The light kept every letter."
run_q "inspect Reasoned" 0 inspect Reasoned --json
check "provenance counts what was dropped" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); assert d["meta"]["reasoning_dropped"]>30, d["meta"]' "$TRASH/.out"
check "reasoning: [] keeps it" grep -q "^<reasoning>Keep it to one line.</reasoning>" out/Kept.md
is "an external provider's <THINK> block dropped too" "$(cat out/ExtThink.md)" "Done thinking."
check "JSON taken out of prose" python3 -c '
import json; d=json.load(open("out/Prose.json")); assert d["title"]=="The Keeper'"'"'s Letters", d'

# Every call is recorded: the prompt sent and the raw answer, reachable from the artefact.
run_q "the prompt Reasoned's call sent" 0 inspect Reasoned --prompt
is "is the rendered prompt" "$(cat "$TRASH/.out")" "$(printf 'case:reasoning\nWrite one sentence about a lighthouse keeper.')"
run_q "the raw answer it received" 0 inspect Reasoned --response
check "keeps the reasoning the output dropped" grep -q '<reasoning>Keep it to one line.</reasoning>' "$TRASH/.out"
check "and is the server's JSON" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["choices"][0]["finish_reason"]=="stop", d' "$TRASH/.out"
run_q "inspect --json names the call's record" 0 inspect Reasoned --json
check "its digests, provider, model, params and usage" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); c=d["call_record"]
assert d["call"].startswith("sha256:") and c["prompt"]["digest"].startswith("sha256:") and c["response"].startswith("sha256:"), c
assert c["provider"]=="openai" and c["model"]=="fake" and c["params"]["base_url"].startswith("http://127.0.0.1:"), c
assert c["usage"]["tokens_in"]==11 and c["attempts"]==1, c' "$TRASH/.out"
run_q "the text view points at them" 0 inspect Reasoned
check "call line" out_has "--prompt', --response)"
run_q "a cut-off answer's call" 0 inspect CutOff --response
check "is kept with the failure" grep -q '"finish_reason": *"length"' "$TRASH/.out"
run_q "an external provider's raw answer" 0 inspect ExtThink --response
check "is its result line" grep -q '"type":"result"' "$TRASH/.out"
run_q "a failed call's raw answer, which echoed the key" 0 inspect Denied --response
check "is kept" out_has "Incorrect API key provided"
check "without the key" out_lacks "$KEY"
check "redacted" out_has "[redacted]"
check "no blob holds the key" sh -c "! grep -rqF '$KEY' .quire/blobs"
run_q "an answer that is not UTF-8, as JSON" 0 inspect Latin --response --json
check "is valid JSON, saying so" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["response"] is None and d["utf8"] is False, d' "$TRASH/.out"
run_q "and its bytes without --json" 0 inspect Latin --response
check "as they came" grep -qa "ferm" "$TRASH/.out"
run_q "a prompt over 64 KiB" 3 inspect Big --prompt
check "is recorded by digest and size, and says so" err_has "the prompt of Big (70011 bytes) was not kept: prompts over 64 KiB are recorded by digest only (sha256:"
run_q "--take picks a take's call" 0 inspect Reasoned --prompt --take 0
check "the same prompt" out_has "case:reasoning"
run_q "a take that does not exist" 3 inspect Reasoned --prompt --take 7
check "says so" err_has "Reasoned has no take 7"
run_q "gc keeps every call's blobs" 0 gc
run_q "the prompt is still there" 0 inspect Reasoned --prompt
run_q "the answer too" 0 inspect Denied --response

# The reasoning setting is part of the fingerprint of the role that sets it.
run_q "plan" 0 plan
sed -i 's/reasoning: \[\]/reasoning: [reasoning]/' quire.yaml
run_q "plan after changing keeper's reasoning tags" 0 plan --explain
check "Kept re-runs: its binding changed" out_has "binding changed: keeper"
check "Reasoned does not" out_lacks "Reasoned"
kill "$server" 2>/dev/null
done_testing
