#!/bin/bash
# The replicate provider against a fake Replicate API on 127.0.0.1: create, poll, download,
# text outputs, failed predictions, retries, size caps, Ctrl-C cancel, tokens, no leaks.
. "$(dirname "$0")/lib.sh"
TOKEN=r8_test_quire_7d41
export FAKE_REPLICATE_TOKEN=$TOKEN
export REPLICATE_API_TOKEN=$TOKEN
unset QUIRE_SECRETS_FILE XDG_CONFIG_HOME
LOGS="$TRASH/logs"
mkdir -p "$LOGS"

python3 "$FIXTURES/fake_replicate.py" >"$LOGS/server.out" 2>"$LOGS/server.err" &
PORT=
for _ in $(seq 400); do
	PORT=$(head -n 1 "$LOGS/server.out" 2>/dev/null)
	[ -n "$PORT" ] && break
	sleep 0.05
done
[ -n "$PORT" ] || { echo "Bail out! the fake Replicate server did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT/v1"
VERSION=5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa

# Every quire output is kept, so the final leak check sees all of it.
N_LOG=0
rq() {
	run_q "$@"
	N_LOG=$((N_LOG + 1))
	cp "$TRASH/.out" "$LOGS/$N_LOG.out"
	cp "$TRASH/.err" "$LOGS/$N_LOG.err"
}

# get PATH: a GET on the fake server with bash alone (python starts slowly, curl may be absent).
get() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
	sed '1,/^\r$/d' <&3
	exec 3<&-
}
# stat KIND MODEL: a counter of the fake server (creates, polls, cancels, downloads, ...).
stat() { get "/stats/$1/$2"; }
# body MODEL: the last create body the server got for MODEL, as compact sorted JSON.
body() { get "/body/$1"; }

# role NAME MODEL [EXTRA PARAMS]: one binding of quire.yaml.
role() {
	printf '  %s: { provider: replicate, model: %s, retry_base_ms: 10,\n' "$1" "$2"
	printf '    params: { base_url: "%s", poll_ms: 20%s } }\n' "$BASE" "${3:+, $3}"
}

# project DIR: a story without `quire init` (so a refused run provably writes nothing), made
# the current directory; quire.yaml's roles come from stdin, the caller writes blueprint.yaml.
project() {
	mkdir -p "$TRASH/$1/prompts"
	cd "$TRASH/$1" || exit 1
	{ echo "quire: 1"; echo "roles:"; cat; } >quire.yaml
	echo "Subject: a lighthouse" >inputs.yaml
	echo "Paint {{Subject}}." >prompts/paint.md
	echo "Write a blurb about {{Subject}}." >prompts/write.md
}

# --- A project that succeeds: image, text, version, 429 once, flaky poll and download.
{
	role painter fake/image-model "input: { width: 64, seed: 7, guidance: 3.5, label: \"2.0\", tag: 1.x }"
	role writer fake/text-model "prompt_field: instruction"
	role limited fake/ratelimit-image
	role flaky fake/flaky-image
	role broken fake/dlbroken-image
	printf '  versioned: { provider: replicate, retry_base_ms: 10,\n'
	printf '    params: { base_url: "%s", poll_ms: 20, version: "%s" } }\n' "$BASE" "$VERSION"
} >"$TRASH/roles"
project s <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-test
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Cover: { role: painter, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
  Blurb: { role: writer, prompt: prompts/write.md, uses: [Subject] }
  Map:   { role: limited, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
  Back:  { role: flaky, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
  Inset: { role: broken, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
  Spot:  { role: versioned, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
EOF
rq "providers --check reaches the account endpoint" 0 providers --check
rq "a run against the fake server succeeds" 0 run --json
is "all six were produced" "$(event_ids produced)" "Back Blurb Cover Inset Map Spot"
is "nothing failed" "$(count_events failed)" 0
get /png >"$TRASH/served.png"
check "the PNG in out/ is byte-identical to the served one" cmp -s out/Cover.png "$TRASH/served.png"
check "so is the one from the versioned model" cmp -s out/Spot.png "$TRASH/served.png"
is "the text model's strings are joined" "$(cat out/Blurb.md)" "Once upon a time, a lighthouse."
is "one create for the image model" "$(stat creates fake/image-model)" 1
is "polled until it succeeded (2 processing, then succeeded)" "$(stat polls fake/image-model)" 3
is "downloaded once" "$(stat downloads fake/image-model)" 1
is "the prompt goes into the prompt field, merged with params.input (decimals as numbers)" "$(body fake/image-model)" \
	'{"input":{"guidance":3.5,"label":2.0,"prompt":"Paint a lighthouse.\n","seed":7,"tag":"1.x","width":64}}'
is "prompt_field moves the prompt" "$(body fake/text-model)" \
	'{"input":{"instruction":"Write a blurb about a lighthouse.\n"}}'
is "a version goes to /predictions with the version" "$(body "version:$VERSION")" \
	"{\"input\":{\"prompt\":\"Paint a lighthouse.\\n\"},\"version\":\"$VERSION\"}"
is "the 429 was answered once" "$(stat throttled fake/ratelimit-image)" 1
is "then one prediction was created" "$(stat creates fake/ratelimit-image)" 1
is "a 500 while polling does not create another prediction" "$(stat creates fake/flaky-image)" 1
is "a 503 download was retried in place" "$(stat downloads fake/flaky-image)" 2
is "downloads failing past their retries were retried by the core" "$(stat downloads fake/dlbroken-image)" 4
is "which resumed the same prediction instead of paying for another" "$(stat creates fake/dlbroken-image)" 1
rq "inspect --json Cover" 0 inspect --json Cover
check "meta records the prediction id, model and predict_time" \
	out_has '"meta":{"model":"fake/image-model","predict_time":"1.235","prediction_id":"fk'
check "one attempt" out_has '"attempts":1,'
rq "inspect --json Map" 0 inspect --json Map
check "the throttled instance took two attempts" out_has '"attempts":2,'
rq "inspect --json Blurb" 0 inspect --json Blurb
check "text usage is recorded" out_has '"tokens_in":7,"tokens_out":5'
rq "inspect --json Spot" 0 inspect --json Spot
check "meta records the version" out_has "\"version\":\"$VERSION\""
rq "inspect --json Inset" 0 inspect --json Inset
check "the resumed download took two attempts" out_has '"attempts":2,'
check "and is the served PNG" cmp -s out/Inset.png "$TRASH/served.png"
rq "a second run has nothing to do" 0 run --json
is "no new prediction" "$(stat creates fake/image-model)" 1

# --- A failed prediction fails its instance at once and blocks only its dependants.
{
	role painter fake/fail-model
	role writer fake/text-model
	role ghost fake/missing-model
} >"$TRASH/roles"
project f <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-failure
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Cover:   { role: painter, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
  Caption: { role: writer, prompt: prompts/write.md, uses: [Subject, Cover] }
  Blurb:   { role: writer, prompt: prompts/write.md, uses: [Subject] }
  Ghost:   { role: ghost, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
EOF
rq "a failing prediction exits 1" 1 run --json
is "the failures" "$(event_ids failed)" "Cover Ghost"
is "blocks its dependant" "$(event_ids blocked)" "Caption"
is "and nothing else" "$(event_ids produced)" "Blurb"
check "the message carries the server's error" out_has "failed: CUDA out of memory: the fake GPU is full"
is "a failed prediction is not retried" "$(stat creates fake/fail-model)" 1
check "no output for the failed instance" test ! -e out/Cover.png
check "a 404 is permanent, with the server's title and detail" \
	out_has "HTTP 404: Not found: The requested resource could not be found. (check the model name and version)\""

# --- Downloads larger than max_download_mb stop, with or without a Content-Length.
{
	role big fake/big-image "max_download_mb: 1"
	role stream fake/stream-image "max_download_mb: 1"
} >"$TRASH/roles"
project big <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-big
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Big:    { role: big, prompt: prompts/paint.md, uses: [Subject], output: { type: file, ext: bin } }
  Stream: { role: stream, prompt: prompts/paint.md, uses: [Subject], output: { type: file, ext: bin } }
EOF
rq "oversized outputs fail the run" 1 run --json
is "both fail" "$(event_ids failed)" "Big Stream"
check "saying why" out_has "larger than max_download_mb=1"
is "not retried" "$(stat creates fake/big-image)" 1
check "nothing in out/" test -z "$(ls out 2>/dev/null)"
check "no partial download left behind" test -z "$(find .quire/tmp -type f -size +1000k 2>/dev/null)"

# --- Tokens: a missing one refuses the run before anything is written; a wrong one is a 401.
role painter fake/image-model >"$TRASH/roles"
project tok <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-token
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Cover: { role: painter, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
EOF
before=$(stat unauthorized fake/image-model)
REPLICATE_API_TOKEN= rq "a live run without REPLICATE_API_TOKEN exits 3" 3 run
check "naming the variable" err_has "REPLICATE_API_TOKEN"
check "before anything was written" test ! -e .quire
check "not even out/" test ! -e out
REPLICATE_API_TOKEN=r8_wrong_token_0000 rq "providers --check with a wrong token fails" 1 providers --check
check "with the server's message" out_has "Unauthenticated"
REPLICATE_API_TOKEN=r8_wrong_token_0000 rq "a wrong token fails the run" 1 run --json
check "with the server's status and message" \
	out_has "HTTP 401: Unauthenticated: You did not pass a valid authentication token"
is "a 401 is not retried" "$(stat unauthorized fake/image-model)" $((before + 1))

# --- A prediction that outlives timeout_s is cancelled on the server and fails, unretried.
role painter fake/slow-timeout "timeout_s: 1" >"$TRASH/roles"
project to <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-timeout
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Cover: { role: painter, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
EOF
rq "a prediction past timeout_s fails the run" 1 run --json
check "saying so" out_has "did not finish within timeout_s=1 (last status: processing)"
is "it was cancelled on the server" "$(stat cancels fake/slow-timeout)" 1
is "and not created again" "$(stat creates fake/slow-timeout)" 1

# --- Ctrl-C during a slow prediction cancels it on the server and exits 130.
role painter fake/slow-model >"$TRASH/roles"
project c <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-cancel
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Cover: { role: painter, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
EOF
"$QUIRE" run --json >"$LOGS/cancel.out" 2>"$LOGS/cancel.err" &
pid=$!
for _ in $(seq 400); do
	[ "$(stat polls fake/slow-model)" -ge 2 ] && break
	sleep 0.05
done
check "the slow prediction is being polled" test "$(stat polls fake/slow-model)" -ge 2
kill -INT "$pid"
wait "$pid"
is "SIGINT exits 130" "$?" 130
is "the server saw the cancel" "$(stat cancels fake/slow-model)" 1
is "the cancelled job is not a failure" "$(grep -c '"event":"failed"' "$LOGS/cancel.out")" 0
is "one prediction was created" "$(stat creates fake/slow-model)" 1

# --- retry-after-ms (the same header handling as the openai provider's): waited for.
role painter fake/waitms-image >"$TRASH/roles"
project w <"$TRASH/roles"
cat >blueprint.yaml <<'EOF'
blueprint: replicate-waitms
inputs:
  Subject: { type: text, default: "a lighthouse" }
producers:
  Cover: { role: painter, prompt: prompts/paint.md, uses: [Subject], output: { type: image } }
EOF
t0=$(date +%s%N)
rq "a 429 with retry-after-ms is retried" 0 run --json
ms=$((($(date +%s%N) - t0) / 1000000))
is "the 429 was answered once" "$(stat throttled fake/waitms-image)" 1
check "retry-after-ms: 1500 was honoured ($ms ms; retry_base_ms is 10)" test "$ms" -ge 1500

# --- The token appears nowhere: project trees, stores, stdout and stderr of every command.
cd "$TRASH" || exit 1
check "the token leaks nowhere in the trash directory" test -z "$(grep -rlaF "$TOKEN" "$TRASH")"
done_testing
