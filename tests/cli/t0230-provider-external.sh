#!/bin/bash
# External providers: an executable quire-provider-NAME on PATH speaking JSON lines, written
# here in Python and in sh; its secret arrives in the environment, never in the request.
. "$(dirname "$0")/lib.sh"
mkdir bin p && cd p
cat >"$TRASH/bin/quire-provider-shout" <<'PY'
#!/usr/bin/env python3
# Test provider: answers with the prompt in capitals, reports progress, records what it saw.
import json, os, sys
req = json.loads(sys.stdin.readline())
with open(os.path.join(os.environ["SHOUT_LOG"]), "a") as log:
    log.write(json.dumps({"id": req["id"], "attempt": req["attempt"], "keys": sorted(req),
                          "secret_in_env": os.environ.get("QUIRE_SECRET") == "shout-secret-4417"}) + "\n")
print(json.dumps({"type": "progress", "units": 3, "unit": "tokens"}), flush=True)
import time; time.sleep(0.3)  # long enough for quire to show the progress
if "FAIL" in req["prompt"]:
    print(json.dumps({"type": "result", "ok": False, "error": "shout: refused " + req["id"]}))
    sys.exit(0)
if "FLAKY" in req["prompt"] and req["attempt"] < 2:
    print(json.dumps({"type": "result", "ok": False, "transient": True, "error": "busy"}))
    sys.exit(0)
print(json.dumps({"type": "result", "ok": True, "content": req["prompt"].upper(),
                  "tokens_in": 7, "tokens_out": 9, "meta": {"served_by": "shout"}}))
PY
cat >"$TRASH/bin/quire-provider-silent" <<'SH'
#!/bin/sh
# Test provider that dies without answering.
echo "something went wrong inside" >&2
exit 3
SH
chmod +x "$TRASH/bin/"*
export PATH="$TRASH/bin:$PATH" SHOUT_LOG="$TRASH/shout.log" SHOUT_SECRET="shout-secret-4417"
mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: ext
inputs:
  Word: { type: text, default: "hello" }
  N: { type: int, default: 2 }
producers:
  Line:
    foreach: { i: N }
    role: loud
    prompt: prompts/line.md
    uses: [Word]
YAML
cat >quire.yaml <<'YAML'
quire: 1
roles:
  loud: { provider: shout, secret: SHOUT_SECRET, retry_base_ms: 10, params: { env: [SHOUT_LOG] } }
YAML
echo "Word: hello" >inputs.yaml
echo 'line {{i}}: {{Word}}' >prompts/line.md
run_q "providers finds the executable on PATH" 0 providers
check "and says where" out_has "$TRASH/bin/quire-provider-shout"
check "the secret is present, not printed" out_has "secret SHOUT_SECRET: present"
check "the value never appears" sh -c "! grep -q shout-secret-4417 '$TRASH/.out'"
run_q "a run through the external provider" 0 run --json
is "both lines produced" "$(event_ids produced)" "Line[0] Line[1]"
check "streamed progress reached the events" grep -q '"event":"progress","id":"Line\[0\]",.*"unit":"tokens","units":3' "$TRASH/.out"
is "the output is the provider's" "$(cat out/Line-1.md)" "LINE 1: HELLO"
check "the secret came through the environment" python3 -c '
import json; rows=[json.loads(l) for l in open("'"$TRASH"'/shout.log")]
assert all(r["secret_in_env"] for r in rows), rows
assert all("secret" not in k for r in rows for k in r["keys"]), rows'
run_q "inspect shows usage and provenance" 0 inspect --json 'Line[0]'
check "tokens and meta recorded" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["usage"]=={"tokens_in":7,"tokens_out":9} and d["meta"]=={"served_by":"shout"}, d' "$TRASH/.out"

echo 'FLAKY {{i}}' >prompts/line.md
run_q "a transient failure is retried" 0 run --json
run_q "inspect the retried line" 0 inspect --json 'Line[0]'
check "it took two attempts" python3 -c '
import json,sys; assert json.load(open(sys.argv[1]))["attempts"]==2' "$TRASH/.out"

echo 'FAIL {{i}}' >prompts/line.md
run_q "a reported failure fails the job" 1 run
check "with the provider's message" sh -c "grep -q 'shout: refused Line' '$TRASH/.out'"

sed -i 's/provider: shout/provider: silent/' quire.yaml
run_q "a provider that dies without a result" 1 run --json
run_q "inspect it" 0 inspect 'Line[0]'
check "the failure carries its stderr" out_has "something went wrong inside"
check "no secret anywhere in the project" sh -c "! grep -rq shout-secret-4417 '$TRASH/p'"
done_testing
