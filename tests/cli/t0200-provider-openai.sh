#!/bin/bash
# The openai provider against a fake OpenAI-compatible server on 127.0.0.1: plain, streamed and
# structured outputs, retries (429 with Retry-After, 500s, a hang, truncated JSON), permanent
# failures with the server's message, cancellation, readiness check, and the key never stored.
. "$(dirname "$0")/lib.sh"
KEY=sk-test-quire-5f2a9c
WRONG=sk-wrong-quire-77d1e0
export OPENAI_API_KEY=$KEY

start_fake_openai "$KEY"

# stats CASE: how many requests the fake server saw for a case (bash's /dev/tcp: no python
# start-up per question).
stats() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf 'GET /count/%s HTTP/1.0\r\n\r\n' "$1" >&3
	reply=$(cat <&3)
	exec 3<&-
	echo "${reply##*$'\n'}"
}
# request CASE EXPR: evaluates a Python expression over the last request body r of a case.
request() {
	python3 -c '
import json,sys,urllib.request
r=json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))["requests"][sys.argv[2]]
sys.exit(0 if eval(sys.argv[3]) else 1)' "$PORT" "$1" "$2"
}
# fields ID PATH...: fields of 'quire inspect --json ID' (PATH like attempts or
# usage.tokens_in), space-separated.
fields() {
	"$QUIRE" inspect --json "$1" | python3 -c '
import json,sys
doc=json.load(sys.stdin); out=[]
for path in sys.argv[1:]:
    d=doc
    for k in path.split("."): d=d.get(k) if isinstance(d, dict) else None
    out.append(str(d))
print(" ".join(out))' "${@:2}"
}
# message ID: the message of the "failed" event of ID in the last output.
message() {
	python3 -c '
import json,sys
for line in open(sys.argv[1]):
    e=json.loads(line)
    if e.get("event")=="failed" and e.get("id")==sys.argv[2]: print(e.get("message", ""))' \
		"$TRASH/.out" "$1"
}
# msg_has ID REGEX: the failure message of ID matches.
msg_has() { message "$1" | grep -q -- "$2"; }
msg_lacks() { ! message "$1" | grep -qF -- "$2"; }

mkdir -p p/prompts p/schemas && cd p || exit 1
cat >blueprint.yaml <<'EOF'
blueprint: openai-cases
version: 1
inputs:
  Subject: { type: text, default: "a lighthouse keeper" }
producers:
  Plain:        { role: plain,   prompt: prompts/plain.md,        uses: [Subject] }
  Streamed:     { role: writer,  prompt: prompts/stream.md,       uses: [Subject] }
  Outline:      { role: writer,  prompt: prompts/json.md,         uses: [Subject],
                  output: { type: json, schema: schemas/outline.json } }
  Notes:        { role: writer,  prompt: prompts/jsonobj.md,      uses: [Subject],
                  output: { type: json } }
  Fenced:       { role: writer,  prompt: prompts/fenced.md,       uses: [Subject],
                  output: { type: json, schema: schemas/outline.json } }
  Thinking:     { role: writer,  prompt: prompts/think.md,        uses: [Subject] }
  ThinkingJson: { role: writer,  prompt: prompts/thinkjson.md,    uses: [Subject],
                  output: { type: json, schema: schemas/outline.json } }
  RateLimited:  { role: writer,  prompt: prompts/ratelimit.md,    uses: [Subject] }
  Flaky:        { role: writer,  prompt: prompts/flaky.md,        uses: [Subject] }
  Hang:         { role: fragile, prompt: prompts/hang.md,         uses: [Subject] }
  Truncated:    { role: fragile, prompt: prompts/truncated.md,    uses: [Subject] }
  BadJson:      { role: writer,  prompt: prompts/badjson.md,      uses: [Subject],
                  output: { type: json, schema: schemas/outline.json } }
  Unauthorized: { role: writer,  prompt: prompts/unauthorized.md, uses: [Subject] }
  Quota:        { role: writer,  prompt: prompts/quota.md,        uses: [Subject] }
  BadRequest:   { role: writer,  prompt: prompts/badrequest.md,   uses: [Subject] }
  Conflict:     { role: writer,  prompt: prompts/conflict.md,     uses: [Subject] }
  Slow:         { role: patient, prompt: prompts/slow.md,         uses: [Subject] }
  Refused:      { role: nowhere, prompt: prompts/plain.md,        uses: [Subject] }
EOF
for c in plain stream json jsonobj fenced think thinkjson ratelimit flaky hang truncated badjson unauthorized \
	quota badrequest conflict; do
	printf 'case:%s\nWrite one sentence about {{Subject}}.\n' "$c" >"prompts/$c.md"
done
printf 'case:hang\nTake your time with {{Subject}}.\n' >prompts/slow.md
cat >schemas/outline.json <<'EOF'
{ "type": "object", "required": ["title", "beats"], "additionalProperties": false,
  "properties": { "title": { "type": "string" },
                  "beats": { "type": "array", "items": { "type": "string" }, "minItems": 2 } } }
EOF
echo 'Subject: a lighthouse keeper' >inputs.yaml
cat >quire.yaml <<EOF
quire: 1
jobs: 8
roles:
  plain:
    provider: openai
    model: fake-model
    params: { base_url: "$BASE", stream: false, temperature: 0.7, max_tokens: "300",
              system: "You write short fiction." }
    retry_base_ms: 10
  writer:
    provider: openai
    model: fake-model
    params: { base_url: "$BASE/" }
    retry_base_ms: 10
  fragile:
    provider: openai
    model: fake-model
    params: { base_url: "$BASE", timeout_s: 1, stream: "false" }
    retries: 1
    retry_base_ms: 10
  nowhere:
    provider: openai
    model: fake-model
    params: { base_url: "http://127.0.0.1:9/v1" }
    retries: 1
    retry_base_ms: 10
  patient:
    provider: openai
    model: fake-model
    params: { base_url: "$BASE", timeout_s: 60 }
EOF

# Successes, retried or not.
run_q "the successful cases run" 0 run --json Plain Streamed Outline Notes Fenced Thinking ThinkingJson RateLimited Flaky
is "all nine are produced" "$(event_ids produced)" \
	"Fenced Flaky Notes Outline Plain RateLimited Streamed Thinking ThinkingJson"
is "nothing failed" "$(count_events failed)" 0

is "plain: the message content is the artefact" "$(cat out/Plain.md)" \
	"PLAIN plain: the keeper answered every letter."
is "plain: one request" "$(stats plain)" 1
check "plain: temperature sent as a number, max_tokens as an integer" \
	request plain 'r["temperature"]==0.7 and r["max_tokens"]==300 and r["stream"] is False'
check "plain: the system prompt and the rendered prompt are the messages" \
	request plain 'r["messages"]==[{"role":"system","content":"You write short fiction."},
{"role":"user","content":"case:plain\nWrite one sentence about a lighthouse keeper.\n"}]'
is "plain: one attempt, usage, response id, server's model, finish reason" \
	"$(fields Plain attempts usage.tokens_in usage.tokens_out meta.response_id meta.model \
		meta.finish_reason)" "1 11 7 chatcmpl-plain fake-plain stop"

is "streamed: the deltas are joined" "$(cat out/Streamed.md)" \
	"STREAMED stream: one word at a time."
is "streamed: one request" "$(stats stream)" 1
check "streamed: asked for a stream with usage" \
	request stream 'r["stream"] is True and r["stream_options"]=={"include_usage":True}'
is "streamed: usage from the last chunk, response id from the chunks" \
	"$(fields Streamed usage.tokens_in usage.tokens_out meta.response_id)" "13 8 chatcmpl-stream"

check "json: the output is the structured document" python3 -c '
import json; d=json.load(open("out/Outline.json"))
assert d=={"title":"The Keeper'"'"'s Letters","beats":["a letter arrives","the light answers"]}, d'
check "json: the schema went out as response_format" request json '
r["response_format"]["json_schema"]["schema"]==json.load(open("schemas/outline.json"))'
is "json: one request" "$(stats json)" 1
check "json without a schema: json_object, content kept" python3 -c '
import json; assert json.load(open("out/Notes.json"))=={"note":"free-form JSON"}'
is "a reasoning block before the answer is dropped" "$(cat out/Thinking.md)" "The light answered every letter."
check "meta says how much was dropped" python3 -c '
import json; m=json.load(open("'"$(revjson 1)"'"))["artefacts"]["Thinking"]["meta"]
assert m["reasoning_dropped"]>40, m'
check "before fenced JSON too (any letter case)" python3 -c '
import json; assert json.load(open("out/ThinkingJson.json"))["beats"][1]=="the light answers"'
check "json in a Markdown fence: the fence is dropped" python3 -c '
import json; assert json.load(open("out/Fenced.json"))["beats"][1]=="the light answers"'

is "429: answered on the second request" "$(stats ratelimit)" 2
read -r attempts ms <<<"$(fields RateLimited attempts duration_ms)"
is "429: inspect counts two attempts" "$attempts" 2
check "429: Retry-After: 1 was honoured ($ms ms; retry_base_ms is 10)" test "$ms" -ge 1000
is "429: the artefact (streamed)" "$(cat out/RateLimited.md)" \
	"STREAMED ratelimit: one word at a time."
is "500 twice: three requests" "$(stats flaky)" 3
is "500 twice: inspect counts three attempts" "$(fields Flaky attempts)" 3
is "500 twice: the artefact (streamed)" "$(cat out/Flaky.md)" "STREAMED flaky: one word at a time."

# Failures: transient ones after their retries, permanent ones at once.
start=$(date +%s)
run_q "the failing cases exit 1" 1 run --json Hang Truncated BadJson Unauthorized Quota BadRequest Conflict \
	Refused
took=$(($(date +%s) - start))
is "all eight fail" "$(event_ids failed)" \
	"BadJson BadRequest Conflict Hang Quota Refused Truncated Unauthorized"
is "nothing else ran" "$(count_events produced)" 0
check "hang: timed out with a clear message" msg_has Hang 'did not answer within 1 s (timeout_s) (after 2 attempts)'
is "hang: retried once (retries: 1)" "$(stats hang)" 2
check "hang: the 10 s hangs were cut short ($took s)" test "$took" -lt 9
check "truncated: invalid JSON named" msg_has Truncated 'openai: invalid JSON in the response from .*(after 2 attempts)'
is "truncated: retried once" "$(stats truncated)" 2
check "schema mismatch: retried, then failed with the path" msg_has BadJson 'after 4 attempts'
is "schema mismatch: four requests (retries 3)" "$(stats badjson)" 4
check "401: the server's message" msg_has Unauthorized '^openai: 401 Unauthorized: Incorrect API key provided: '
check "401: the echoed key is not in the message" msg_lacks Unauthorized "$KEY"
is "401: not retried" "$(stats unauthorized)" 1
check "429 out of quota: permanent, with the message" msg_has Quota '^openai: 429 Too Many Requests: You exceeded your current quota'
is "429 out of quota: not retried" "$(stats quota)" 1
check "409: permanent, with the message" msg_has Conflict '^openai: 409 Conflict: Another request'
is "409: not retried (one policy with replicate: 408, 429, 5xx)" "$(stats conflict)" 1
is "400: the server's message" "$(message BadRequest)" \
	"openai: 400 Bad Request: Invalid value for 'model': this model does not exist"
is "400: not retried" "$(stats badrequest)" 1
check "connection refused: transient, retried once" \
	msg_has Refused "^openai: http://127.0.0.1:9/v1/chat/completions: .*(after 2 attempts)"
run_q "inspect a failed instance" 0 inspect Unauthorized
check "inspect shows the provider's message" out_has "openai: 401 Unauthorized: Incorrect API key"

# A wrong key: the fake answers 401 and echoes it; it must appear nowhere either.
before=$(stats hang)
OPENAI_API_KEY=$WRONG run_q "a wrong key fails the job" 1 run --json Hang
check "with the server's 401" msg_has Hang '^openai: 401 Unauthorized: Incorrect API key provided'
is "at once" "$(stats hang)" $((before + 1))

# Readiness: GET /models with the key.
run_q "providers --check: one role's server is down" 1 providers --check --json
check "the fake's roles are ready and checked, the closed port is unreachable" python3 -c '
import json,sys; rows={r["role"]: r for r in json.load(open(sys.argv[1]))}
assert all(r["status"]=="ready" and r.get("checked") for k, r in rows.items() if k!="nowhere"), rows
assert rows["nowhere"]["status"]=="unreachable", rows
assert "/v1/models: " in rows["nowhere"]["detail"], rows' "$TRASH/.out"
OPENAI_API_KEY=$WRONG run_q "providers --check with a wrong key" 1 providers --check --json
check "says unreachable with the 401" python3 -c '
import json,sys; rows=json.load(open(sys.argv[1]))
assert all(r["status"]=="unreachable" and "401 Unauthorized" in r["detail"]
           for r in rows if r["role"]!="nowhere"), rows' "$TRASH/.out"

# SIGINT cancels an in-flight request at once.
"$QUIRE" run --json Slow >int.out 2>int.err &
pid=$!
for _ in $(seq 100); do
	[ "$(stats hang)" -gt "$((before + 1))" ] && break
	sleep 0.1
done
sleep 0.3
interrupt "$pid" 3 "a run with a hanging request"
is "Slow was not recorded as failed" "$(grep -c '"event":"failed"' int.out)" 0

# A run against api.openai.com without a key fails at init, naming the variable.
cd "$TRASH" && mkdir -p nokey/prompts && cd nokey || exit 1
printf 'blueprint: nokey\nversion: 1\nproducers:\n  Story: { role: writer, prompt: prompts/s.md }\n' \
	>blueprint.yaml
echo 'Once upon a time.' >prompts/s.md
: >inputs.yaml
printf 'quire: 1\nroles:\n  writer: { provider: openai, model: gpt-4o-mini }\n' >quire.yaml
# Should anything try the network anyway, it meets a closed port, not OpenAI.
unset OPENAI_API_KEY
HTTPS_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
	run_q "no key for api.openai.com: exit 3" 3 run
export OPENAI_API_KEY=$KEY
check "the message names OPENAI_API_KEY" err_has "no API key for https://api.openai.com/v1: set OPENAI_API_KEY"
check "and nothing was produced" test ! -e out/Story.md
printf 'quire: 1\nroles:\n  writer: { provider: openai, params: { base_url: "%s" } }\n' "$BASE" \
	>quire.yaml
run_q "no model: exit 3" 3 run
check "the message asks for one" err_has "provider 'openai': no model: set 'model:' in the binding of role 'writer'"
printf 'quire: 1\nroles:\n  writer: { provider: openai, model: m, params: { temprature: 1 } }\n' \
	>quire.yaml
run_q "a misspelt parameter: exit 3" 3 run
check "the message names it" err_has "unknown parameter 'temprature'"
check "still nothing was produced" test ! -e out/Story.md
# libcurl is loaded when the provider first needs it: one that is not libcurl (here a quire
# module under libcurl's name, first on the library path) is a clear error, not a crash.
printf 'quire: 1\nroles:\n  writer: { provider: openai, model: m, params: { base_url: "%s" } }\n' \
	"$BASE" >quire.yaml
mkdir -p "$TRASH/fakecurl"
cp "$QUIRE_TEST_PLUGINS/quire-provider-oldabi.so" "$TRASH/fakecurl/libcurl.so.4"
LD_LIBRARY_PATH="$TRASH/fakecurl" run_q "a libcurl that is not one: exit 3" 3 run
check "the message says libcurl did not start, and why" \
	err_has "libcurl failed to start: libcurl.so.4 has no curl_global_init"
check "nothing was produced" test ! -e out/Story.md
run_q "with the real libcurl the same project runs" 0 run
check "and produced its story" test -s out/Story.md

# The key reached neither the store, out/, nor any output.
cd "$TRASH" || exit 1
check "the test key is nowhere in the trash directory" sh -c "! grep -rqaF '$KEY' ."
check "the wrong key is nowhere either" sh -c "! grep -rqaF '$WRONG' ."
check "the scan reaches the store's blobs" grep -rqaF 'PLAIN plain: the keeper' p/.quire
kill "$server" && wait "$server" 2>/dev/null
done_testing
