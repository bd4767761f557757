#!/bin/bash
# The openai provider against servers that report errors inside a 200 stream, omit usage, or
# echo part of the key: a permanent error in a stream is not retried, a transient one is;
# unknown usage is recorded as unknown and its cost estimated, never as a free call; every
# attempt's cost is counted, failed ones too; no run of 8 characters of the key is kept.
. "$(dirname "$0")/lib.sh"
KEY=sk-test-QUIRE-5f2a9c81b7
export OPENAI_API_KEY=$KEY
start_fake_openai "$KEY"
count() { fake_count "$1"; }

mkdir -p p/prompts p/schemas && cd p || exit 1
cat >blueprint.yaml <<'YAML'
blueprint: openai-streams
version: 1
producers:
  BadKey:   { role: writer, prompt: prompts/streambadkey.md }
  Overload: { role: writer, prompt: prompts/streamoverload.md }
  NoUsage:  { role: writer, prompt: prompts/streamnousage.md }
  Partial:  { role: writer, prompt: prompts/partialkey.md }
  BadJson:  { role: writer, prompt: prompts/badjson.md,
              output: { type: json, schema: schemas/outline.json } }
YAML
for c in streambadkey streamoverload streamnousage partialkey badjson; do
	printf 'case:%s\nWrite one sentence.\n' "$c" >"prompts/$c.md"
done
cat >schemas/outline.json <<'JSON'
{ "type": "object", "required": ["title", "beats"],
  "properties": { "title": { "type": "string" }, "beats": { "type": "array" } } }
JSON
: >inputs.yaml
cat >quire.yaml <<YAML
quire: 1
roles:
  writer:
    provider: openai
    model: fake-model
    params: { base_url: "$BASE" }
    retry_base_ms: 10
    price: { per_call: 0.01, input_per_mtok: 1, output_per_mtok: 2, estimate_tokens_out: 500 }
YAML

run_q "a bad key reported inside a stream" 1 run --json BadKey
is "is not retried (one request)" "$(count streambadkey)" 1
check "with the server's message" out_has "Incorrect API key provided."

run_q "an overloaded server inside a stream" 0 run --json Overload
is "is retried until it streams (three requests)" "$(count streamoverload)" 3
check "the whole message is the output" grep -q "WHOLE after overload." out/Overload.md

run_q "a stream without usage" 0 run --json NoUsage
run_q "inspect it" 0 inspect NoUsage
check "usage is unknown, not zero" out_has "usage:       unknown"
check "its cost is the estimate, said so" out_has "(estimated: usage unknown)"
check "not a free call" out_lacks "cost:        0.000000"

run_q "a server echoing part of the key" 1 run --json Partial
check "the failure is reported" out_has '"event":"failed"'
key8() { python3 -c '
import sys
key, path = sys.argv[1], sys.argv[2]
text = open(path, errors="replace").read().lower()
runs = {key[i:i+8].lower() for i in range(len(key) - 7)}
sys.exit(1 if any(r in text for r in runs) else 0)' "$KEY" "$1"; }
check "no 8 characters of the key in what was printed" key8 "$TRASH/.out"
check "nor in stderr" key8 "$TRASH/.err"
sqlite3_dump() { python3 -c '
import sqlite3; db=sqlite3.connect(".quire/quire.db")
print("\n".join(str(r) for r in db.execute("select kind, subject, data from events")))' >"$TRASH/events.txt"; }
sqlite3_dump
check "nor in the event log" key8 "$TRASH/events.txt"
for f in .quire/revs/*.objects .quire/runs/*.json; do
	check "nor in $f" key8 "$f"
done
check "redaction says [redacted]" grep -q "\[redacted\]" "$TRASH/.out"
check "never a row of stars" out_lacks "****"

run_q "a schema mismatch retried to the end" 1 run --json BadJson
is "four paid requests" "$(count badjson)" 4
run_q "inspect the revision's cost" 0 inspect --json
check "every failed attempt is counted (4 calls at 0.01 at least)" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
assert m["counts"].get("cost_micro", 0) >= 40000, m["counts"]' "$TRASH/.out"
run_q "inspect the failed instance" 0 inspect BadJson
check "says how many attempts failed" out_has "failed:      after 4 attempts"
check "names the provider" out_has "provider:    openai, model fake-model"
done_testing
