#!/bin/bash
# External providers that misbehave: a grandchild left holding stdout, no answer before
# timeout_s, Ctrl-C while one runs, result lines far beyond a pipe's buffer and beyond the cap,
# and an environment that must not carry quire's own (other roles' keys) nor its ignored signals.
. "$(dirname "$0")/lib.sh"

# project DIR: a project with the blueprint and bindings read from stdin as two documents
# separated by a line '--- quire.yaml'.
project() {
	cd "$TRASH" && mkdir -p "$1" && cd "$1" || exit 1
	awk '/^--- quire.yaml$/ { f = "quire.yaml"; next } { print > (f ? f : "blueprint.yaml") }'
	: >inputs.yaml
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
running() { pgrep -f "^sleep $1" >/dev/null; }
# Sleepers that left the provider's process group are out of quire's reach: the test ends them.
reap() { [ -s "$1" ] && kill -KILL "$(cat "$1")" 2>/dev/null; :; }

mkdir "$TRASH/bin"
export PATH="$TRASH/bin:$PATH"
tag="$$$RANDOM" # the sleeps this script starts carry it, so pgrep finds only ours
in_a="61.${tag}1" out_a="61.${tag}2" in_b="62.${tag}1" out_b="62.${tag}2"
in_c="63.${tag}1" out_c="63.${tag}2"

# --- (a) A result line, then exit leaving sleepers that hold stdout open. ---
cat >"$TRASH/bin/quire-provider-lingers" <<EOF
#!/bin/sh
# Answers at once and exits, leaving two sleepers on its stdout: one in its process group,
# one that left the group (setsid).
read -r req
echo '{"type":"result","ok":true,"content":"answered early"}'
sleep $in_a &
setsid sleep $out_a &
echo \$! >"$TRASH/a.pid"
EOF
# A provider that never answers, ignores SIGTERM, and leaves a sleeper outside its group
# holding its stdout: mute NAME IN OUT
mute() {
	cat >"$TRASH/bin/quire-provider-$1" <<-EOF
	#!/bin/sh
	trap '' TERM
	setsid sleep $3 &
	echo \$! >"$TRASH/$1.pid"
	sleep $2
	EOF
}
mute mute "$in_b" "$out_b"
mute muter "$in_c" "$out_c"
chmod +x "$TRASH/bin/"*

project early <<'EOF'
blueprint: early
version: 1
producers:
  Early: { role: early, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  early: { provider: lingers }
EOF
t0=$(now_ms)
run_q "a provider that answers and leaves a sleeper on its stdout" 0 run --json
elapsed=$(($(now_ms) - t0))
check "the run did not wait for the sleeper (${elapsed} ms)" test "$elapsed" -lt 15000
is "the result it wrote before exiting was used" "$(cat out/Early.txt 2>/dev/null)" "answered early"
check "the sleeper in its process group went with it" sh -c "! pgrep -f '^sleep $in_a' >/dev/null"
reap "$TRASH/a.pid"

# --- (b) No answer before timeout_s: the whole group is stopped, TERM then KILL. ---
project mute <<'EOF'
blueprint: mute
version: 1
producers:
  Silent: { role: mute, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  mute: { provider: mute, retries: 0, params: { timeout_s: 2 } }
EOF
t0=$(now_ms)
run_q "a provider that never answers fails" 1 run --json
elapsed=$(($(now_ms) - t0))
check "after about 2 s and the grace before SIGKILL (${elapsed} ms)" \
	test "$elapsed" -ge 1900 -a "$elapsed" -lt 15000
check "saying it timed out" out_has "timed out after 2 s"
check "no process of its group is left" sh -c "! pgrep -f '^sleep $in_b' >/dev/null"
reap "$TRASH/mute.pid"
sed -i 's/timeout_s: 2/timeout_s: -1/' quire.yaml
run_q "a negative timeout_s is refused before anything runs" 3 run
check "saying what is allowed" err_has "role 'mute': provider 'external': timeout_s must be a whole number of seconds from 0 (no limit)"

# --- (c) Ctrl-C while such a provider runs. ---
project int <<'EOF'
blueprint: int
version: 1
producers:
  Long: { role: long, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  long: { provider: muter }
EOF
"$QUIRE" run --json >int.out 2>int.err &
pid=$!
for _ in $(seq 300); do running "$in_c" && break; sleep 0.1; done
check "the provider is running" running "$in_c"
t0=$(now_ms)
kill -INT "$pid"
wait "$pid"
is "SIGINT exits 130" "$?" 130
elapsed=$(($(now_ms) - t0))
check "within a few seconds (${elapsed} ms)" test "$elapsed" -lt 6000
check "no process of its group is left" sh -c "! pgrep -f '^sleep $in_c' >/dev/null"
is "the cancelled job is not a failure" "$(grep -c '"event":"failed"' int.out)" 0
reap "$TRASH/muter.pid"

# --- Signals: what quire ignores (here SIGHUP, as under nohup) is not ignored in a provider. ---
cat >"$TRASH/bin/quire-provider-sigs" <<'EOF'
#!/bin/sh
# Reports the signals it was started with blocked and ignored.
read -r req
printf '{"type":"result","ok":true,"content":"%s %s"}\n' \
	"$(grep '^SigBlk:' /proc/self/status | tr -d '\t')" "$(grep '^SigIgn:' /proc/self/status | tr -d '\t')"
EOF
chmod +x "$TRASH/bin/quire-provider-sigs"
project sigs <<'EOF'
blueprint: sigs
version: 1
inputs:
  N: { type: int, default: 2 }
producers:
  Sigs: { foreach: { i: N }, role: sigs, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  sigs: { provider: sigs }
EOF
trap '' HUP
run_q "providers started by a quire that ignores SIGHUP" 0 run -j 1 --json
trap - HUP
# Bits 32 and 33 are glibc's internal signals, which its posix_spawn leaves ignored.
std_sigs() {
	set -- $(sed -n 's/^SigBlk:\([0-9a-f]*\) SigIgn:\([0-9a-f]*\)$/\1 \2/p' "$1")
	[ $# -eq 2 ] && echo "blocked $((0x$1)) ignored $((0x$2 & 0x7fffffff))"
}
is "the first has default signal dispositions and mask" "$(std_sigs out/Sigs-0.txt)" "blocked 0 ignored 0"
is "and so has the second" "$(std_sigs out/Sigs-1.txt)" "blocked 0 ignored 0"

# --- (d) Result lines: 200,000 bytes arrive whole; one past the cap fails naming it. ---
cat >"$TRASH/bin/quire-provider-big" <<'EOF'
#!/usr/bin/env python3
# Answers with one result line of exactly params.line_bytes bytes (JSON escapes, non-ASCII
# text and all) and writes the content it sent to params.expect.
import json, sys
req = json.loads(sys.stdin.readline())
size = req["params"]["line_bytes"]
head = '{"type":"result","ok":true,"content":"'
used, pieces = len(head) + 2, []  # the line's bytes so far, its closing '"}' counted
while size < 1 << 20:
    piece = 'line %d: "quoted" \\ tab\t caf\u00e9 \u2603\n' % len(pieces)
    n = len(json.dumps(piece, ensure_ascii=False)[1:-1].encode())
    if used + n > size:
        break
    pieces.append(piece)
    used += n
body = "".join(pieces) + "x" * (size - used)
line = head + json.dumps(body, ensure_ascii=False)[1:-1] + '"}'
assert len(line.encode()) == size, (len(line.encode()), size)
open(req["params"]["expect"], "w", encoding="utf-8", newline="").write(body)
try:
    sys.stdout.buffer.write(line.encode() + b"\n")
    sys.stdout.flush()
except BrokenPipeError:
    sys.exit(1)
EOF
chmod +x "$TRASH/bin/quire-provider-big"
project big <<EOF
blueprint: big
version: 1
producers:
  Big: { role: big, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  big: { provider: big, retries: 0, params: { line_bytes: 200000, expect: "$TRASH/big.expect" } }
EOF
run_q "a 200,000-byte result line" 0 run --json
check "gives the content byte for byte" cmp out/Big.txt "$TRASH/big.expect"
check "which is most of the line" test "$(wc -c <out/Big.txt)" -gt 150000
cap=$((64 * 1024 * 1024))
sed -i "s/line_bytes: 200000/line_bytes: $((cap + 1))/" quire.yaml
t0=$(now_ms)
run_q "a result line one byte over the cap fails" 1 run --json
check "naming the cap" out_has "longer than 64 MiB"
check "promptly ($(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -lt 60000
check "with nothing produced" test "$(count_events produced)" -eq 0
sed -i "s/line_bytes: $((cap + 1))/line_bytes: 65600/" quire.yaml
run_q "a line just past a pipe's 64 KiB" 0 run --json
check "arrives whole too" cmp out/Big.txt "$TRASH/big.expect"

# --- (e) The environment: an allow-list, as for exec. ---
cat >"$TRASH/bin/quire-provider-envdump" <<'EOF'
#!/bin/sh
# Answers with its environment, one variable a line (its secret's value masked).
read -r req
env | sed 's/^QUIRE_SECRET=.*/QUIRE_SECRET=(set)/' | sort |
	python3 -c 'import json,sys; print(json.dumps({"type":"result","ok":True,"content":sys.stdin.read()}))'
EOF
chmod +x "$TRASH/bin/quire-provider-envdump"
project env <<'EOF'
blueprint: env
version: 1
producers:
  Env: { role: dump, output: { type: text, ext: txt } }
  Keyed: { role: keyed, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  dump: { provider: envdump, params: { env: [EXTRA_SETTING, UNSET_SETTING] } }
  keyed: { provider: envdump, secret: ENVDUMP_KEY }
EOF
unset UNSET_SETTING
OTHER_API_KEY=sekrit EXTRA_SETTING=on ENVDUMP_KEY=k-4417 run_q "providers run with OTHER_API_KEY in quire's environment" 0 run --json
check "do not see it" sh -c "! grep -q sekrit out/Env.txt out/Keyed.txt"
check "see PATH" grep -q '^PATH=' out/Env.txt
check "and HOME" grep -q "^HOME=$HOME\$" out/Env.txt
check "and what the binding lists in env:" grep -qx 'EXTRA_SETTING=on' out/Env.txt
check "but not what another binding lists" sh -c "! grep -q EXTRA_SETTING out/Keyed.txt"
check "a listed variable that is not set stays unset" sh -c "! grep -q UNSET_SETTING out/Env.txt"
check "the secret arrives as QUIRE_SECRET" grep -qx 'QUIRE_SECRET=(set)' out/Keyed.txt
check "only for the binding that has it" sh -c "! grep -q QUIRE_SECRET out/Env.txt"
check "not under the name it was read from" sh -c "! grep -q ENVDUMP_KEY out/Keyed.txt"
printf 'quire: 1\nroles:\n  dump: { provider: envdump, params: { env: ["A=1"] } }\n  keyed: { provider: envdump }\n' >quire.yaml
run_q "a value in env: is refused" 3 run
check "env lists names" err_has "env lists names passed through"

# --- (f) Usage beyond any model: not counted, and no price times it overflows. ---
cat >"$TRASH/bin/quire-provider-boast" <<'EOF'
#!/bin/sh
read -r req
echo '{"type":"result","ok":true,"content":"boasted","tokens_in":9223372036854775807,"tokens_out":9223372036854775807}'
EOF
chmod +x "$TRASH/bin/quire-provider-boast"
project boast <<'EOF'
blueprint: boast
version: 1
producers:
  Boast: { role: boast, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  boast: { provider: boast, price: { per_call: 0.01, input_per_mtok: 1, output_per_mtok: 2 } }
EOF
run_q "a provider reporting 2^63-1 tokens each way" 0 run
run_q "inspect it" 0 inspect --json Boast
check "its usage is unknown, its cost the estimate" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["usage"] is None and d.get("cost_estimated") is True, d
assert 10000 <= d["cost_micro"] < 10**9, d' "$TRASH/.out"
check "the revision's cost is that estimate" python3 -c '
import json; m=json.load(open("'"$(revjson 1)"'"))
assert m["counts"]["cost_micro"] == m["artefacts"]["Boast"]["cost_micro"] > 0, m["counts"]'

# --- (g) An error longer than a message holds, cut inside a character: still recorded. ---
cat >"$TRASH/bin/quire-provider-verbose" <<'EOF'
#!/bin/sh
read -r req
printf '{"type":"result","ok":false,"error":"'
i=0
while [ $i -lt 1500 ]; do printf '\303\251'; i=$((i + 1)); done
printf '"}\n'
EOF
chmod +x "$TRASH/bin/quire-provider-verbose"
project verbose <<'EOF'
blueprint: verbose
version: 1
producers:
  Long: { role: talk, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  talk: { provider: verbose, retries: 0 }
EOF
run_q "a provider failing with 1,500 'é'" 1 run
check "the failure keeps its message, producer and role" python3 -c '
import json; e=json.load(open("'"$(revjson 1)"'"))["artefacts"]["Long"]
assert e["status"] == "failed" and e["producer"] == "Long" and e["role"] == "talk", e
assert e["error"].startswith("\u00e9" * 500) and len(e["error"]) > 1000, e["error"][-20:]'

done_testing
