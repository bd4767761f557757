# Shared helpers for CLI scenario tests: a fresh trash directory and HOME per script, TAP output.
# Source it first; call done_testing last.
set -u
: "${QUIRE:?QUIRE must point at the quire binary}"
: "${QUIRE_SOURCE_ROOT:?QUIRE_SOURCE_ROOT must point at the source tree}"
export QUIRE_BLUEPRINTS="${QUIRE_BLUEPRINTS:-$QUIRE_SOURCE_ROOT/blueprints}"
export NO_COLOR=1
unset QUIRE_MOCK_FAIL QUIRE_MOCK_LATENCY_MS
FIXTURES="$QUIRE_SOURCE_ROOT/tests/fixtures"
T_NUM=0
T_FAIL=0
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/quire-$(basename "$0" .sh)-XXXXXX")
export HOME="$TRASH/home"
mkdir -p "$HOME"
cd "$TRASH" || exit 1
cleanup() {
	jobs -p | xargs -r kill -9 2>/dev/null
	[ -n "${nginx:-}" ] && kill -9 "$nginx" 2>/dev/null
	[ -n "${bazel:-}" ] && kill -9 "$bazel" 2>/dev/null
	chmod -R u+w "$TRASH" 2>/dev/null
	[ "$T_FAIL" -eq 0 ] && rm -rf "$TRASH"
}
trap cleanup EXIT

# QUIRE_WRAPPER (e.g. valgrind) wraps every quire the scenarios start.
if [ -n "${QUIRE_WRAPPER:-}" ]; then
	wrapped="$TRASH/quire-wrapped"
	printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$QUIRE_WRAPPER" "$QUIRE" >"$wrapped"
	chmod +x "$wrapped"
	QUIRE=$wrapped
fi
q() { "$QUIRE" "$@"; }

pass() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $1"; }
fail() {
	T_NUM=$((T_NUM + 1)); T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_NUM - $1"
	shift
	for line in "$@"; do echo "#   $line"; done
	[ -f "$TRASH/.out" ] && sed 's/^/#   stdout: /' "$TRASH/.out" | head -40
	[ -f "$TRASH/.err" ] && sed 's/^/#   stderr: /' "$TRASH/.err" | head -40
	return 0
}

# run_q DESCRIPTION EXPECTED_EXIT ARGS...: runs quire, keeping stdout/stderr in $TRASH/.out/.err.
run_q() {
	local desc=$1 want=$2
	shift 2
	"$QUIRE" "$@" >"$TRASH/.out" 2>"$TRASH/.err"
	local got=$?
	if [ "$got" -eq "$want" ]; then pass "$desc"; else fail "$desc" "exit $got, expected $want"; fi
}

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc" "failed: $*"; fi
}

# is DESCRIPTION GOT WANT
is() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got:  '$2'" "want: '$3'"; fi
}

out_has() { grep -qF -- "$1" "$TRASH/.out"; }
err_has() { grep -qF -- "$1" "$TRASH/.err"; }
# The last output does not say this (the file must exist: a missing one is a failure).
out_lacks() { test -f "$TRASH/.out" && ! grep -qF -- "$1" "$TRASH/.out"; }
err_lacks() { test -f "$TRASH/.err" && ! grep -qF -- "$1" "$TRASH/.err"; }

# Counts NDJSON events of a kind in the last output ("produced", "cached", "failed", ...).
count_events() { grep -c "\"event\":\"$1\"" "$TRASH/.out" || true; }
# The ids of NDJSON events of a kind, sorted, space-separated.
event_ids() {
	grep "\"event\":\"$1\"" "$TRASH/.out" | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort | tr '\n' ' ' |
		sed 's/ $//'
}

# interrupt PID MAX WHAT: Ctrl-C (SIGINT) to a quire running in the background; it must exit
# 130 within MAX seconds (two subtests, named after WHAT).
interrupt() {
	local t0 rc n=0
	t0=$(date +%s)
	kill -INT "$1"
	# A run that does not end after SIGINT fails here, killed after MAX + 30 s, instead of
	# hanging the test. Ended but not yet waited for, it is a zombie ('Z'), which kill -0
	# still finds.
	while [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ] &&
		[ "$n" -lt $((($2 + 30) * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ "$n" -lt $((($2 + 30) * 10)) ] || kill -9 "$1" 2>/dev/null
	wait "$1"
	rc=$?
	is "$3 exits as interrupted" "$rc" 130
	check "$3 stops at once, not after its transfers" test $(($(date +%s) - t0)) -le "$2"
}

# wait_for N FILE: until FILE (a 'run --json' going on) has N "produced" events, at most
# about 20 s: a run to kill part way.
wait_for() {
	for _ in $(seq 200); do
		[ "$(grep -c '"event":"produced"' "$2" 2>/dev/null || true)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# kill_part_way N DESC: a slow 'run -j 2 --json' (150 ms a call) killed with SIGKILL once it
# has produced N outputs, checked as DESC; sets done_before to what it produced.
kill_part_way() {
	: >killed.out # not left to the background redirection: an earlier kill's lines would count
	QUIRE_MOCK_LATENCY_MS=150 "$QUIRE" run -j 2 --json >killed.out 2>killed.err &
	local pid=$!
	check "$2" wait_for "$1" killed.out
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	done_before=$(grep -c '"event":"produced"' killed.out)
}

# Revisions are named by the digest of their manifest, so tests name them by position:
# revfull N is the whole name of the project's Nth revision (1 the oldest, as 'inspect --log'
# orders them; run in the project), rev N the 12 characters quire shows.
revfull() {
	"$QUIRE" inspect --log --json 2>/dev/null | python3 -c '
import json, sys
rows = json.loads(sys.stdin.readline() or "[]")[::-1]
n = int(sys.argv[1])
print(rows[n - 1]["revision"] if 1 <= n <= len(rows) else "")' "$1"
}
rev() { revfull "$1" | cut -c1-12; }
# revjson N writes revision N as 'quire inspect --revision --json' prints it (the manifest's
# keys: artefacts, inputs, files, counts, parent, ...) to a file and prints its path; current_json
# the same for the current revision; pack N is revision N's pack (its first part).
revjson() {
	local f="$TRASH/.rev-$1.json"
	"$QUIRE" inspect --revision "$(revfull "$1")" --json >"$f" 2>/dev/null
	echo "$f"
}
current_json() {
	local f="$TRASH/.rev-current.json"
	"$QUIRE" inspect --json >"$f" 2>/dev/null
	echo "$f"
}
pack() { echo ".quire/revs/$(revfull "$1").objects"; }
# entry REV ID [FIELD]: revision REV's (a name, current~N) entry of artefact ID as JSON, or
# its FIELD (digest, fingerprint, status, ...).
entry() {
	"$QUIRE" inspect --revision "$1" --json 2>/dev/null | python3 -c '
import json,sys; e=json.load(sys.stdin)["artefacts"][sys.argv[1]]
print(e[sys.argv[2]] if len(sys.argv) > 2 else json.dumps(e))' "${@:2}"
}

# drop_object D: removes object D ("sha256:<hex>" or the hex) from every pack in .quire/revs/,
# as a damaged pack or a bad merge would lose it (run from the project's root).
drop_object() {
	python3 - "${1#sha256:}" .quire/revs/*.objects <<'PY'
import sys
want = sys.argv[1].encode()
for path in sys.argv[2:]:
    b = open(path, "rb").read()
    pos = b.index(b"\n") + 1
    out = [b[:pos]]
    while pos < len(b):
        nl = b.index(b"\n", pos)
        head = b[pos:nl].split()
        end = nl + 1 + int(head[1]) + 1
        if head[0] != want:
            out.append(b[pos:end])
        pos = end
    open(path, "wb").write(b"".join(out))
PY
}

# The store's blobs, wherever they are kept (a file under .quire/blobs/sha256, or packed in
# .quire/blobs/pack.db when under 4 KiB): DIGEST is "sha256:<hex>" or the hex. Run from the
# project's root.
#   blob_has D          true when the store holds it
#   blob_rm D           removes it, as a disk fault or a careless hand would
#   blob_damage D TEXT  replaces its bytes with TEXT (same place, same name)
#   blob_flip D         flips a bit of its middle byte (same length, other bytes)
#   blob_text D         prints its stored bytes
#   blob_unpack D       moves a packed blob to a file of its own (a store made before packs)
blob_sql() {
	python3 - "$@" <<'PY'
import os, sqlite3, sys
# 1 means "not there"; anything going wrong here is 2, so "! blob_has" cannot pass by accident
sys.excepthook = lambda t, v, tb: (sys.stderr.write("blob_sql: %s\n" % v), os._exit(2))
op, hexd = sys.argv[1], sys.argv[2].split(":")[-1]
f = os.path.join(".quire/blobs/sha256", hexd[:2], hexd)
if os.path.exists(f):
    if op == "has": sys.exit(0)
    if op == "text": sys.stdout.write(open(f).read()); sys.exit(0)
    if op == "unpack": sys.exit(1)
    os.chmod(f, 0o644)
    if op == "rm": os.unlink(f)
    elif op == "flip":
        b = bytearray(open(f, "rb").read()); b[len(b) // 2] ^= 0x20; open(f, "wb").write(b)
    else: open(f, "w").write(sys.argv[3])
    sys.exit(0)
if not os.path.exists(".quire/blobs/pack.db"): sys.exit(1)
db = sqlite3.connect(".quire/blobs/pack.db", timeout=30)
k = bytes.fromhex(hexd)
row = db.execute("SELECT data FROM blob WHERE d = ?", (k,)).fetchone()
if op == "has": sys.exit(0 if row else 1)
if op == "text":
    if not row: sys.exit(1)
    sys.stdout.write(bytes(row[0]).decode()); sys.exit(0)
if op == "unpack":
    if not row: sys.exit(1)
    os.makedirs(os.path.dirname(f), exist_ok=True)
    open(f, "wb").write(bytes(row[0]))
    os.chmod(f, 0o444)
    n = db.execute("DELETE FROM blob WHERE d = ?", (k,)).rowcount
elif op == "rm": n = db.execute("DELETE FROM blob WHERE d = ?", (k,)).rowcount
elif op == "flip":
    b = bytearray(row[0]); b[len(b) // 2] ^= 0x20
    n = db.execute("UPDATE blob SET data = ? WHERE d = ?", (bytes(b), k)).rowcount
else: n = db.execute("UPDATE blob SET data = ? WHERE d = ?", (sys.argv[3].encode(), k)).rowcount
db.commit()
db.close()
sys.exit(0 if n else 1)
PY
}
blob_has() { blob_sql has "$1"; }
blob_rm() { blob_sql rm "$1"; }
blob_damage() { blob_sql damage "$1" "$2"; }
blob_flip() { blob_sql flip "$1"; }
blob_text() { blob_sql text "$1"; }
blob_unpack() { blob_sql unpack "$1"; }

# Fingerprint of everything quire keeps that must not change on a refused command (its caches
# excepted: quire.db, objects.db, stat-cache, blob-trust and template-checks hold what a plan may record;
# reserve is room kept on the disk).
store_state() {
	(cd "${1:-.}" && find .quire -path .quire/tmp -prune -o -type f -print 2>/dev/null |
		grep -v -e "quire.db" -e "/objects.db" -e "/lock$" -e "/stat-cache$" -e "/blob-trust$" \
			-e "/template-checks$" -e "/reserve$" | sort |
		xargs -r sha256sum) |
		sha256sum | cut -d' ' -f1
}

# new_scenes_book DIR N: a project in DIR (cd'ed into) of N scenes, each with its own prompt
# (prompts/scene-I.md holding "scene I"), and a Book using the Title input and every scene (its
# prompts/book.md is the test's), on the mock provider (the Book echoes its prompt).
new_scenes_book() {
	mkdir "$1" && cd "$1" && mkdir prompts || exit 1
	cat >blueprint.yaml <<YAML
blueprint: scenes
inputs:
  Title: { type: text, default: "T" }
  Count: { type: int, default: $2 }
producers:
  Scene:
    foreach: { i: Count }
    role: w
    prompt: "prompts/scene-{{i}}.md"
  Book:
    role: book
    prompt: prompts/book.md
    uses: [Title, "Scene[*]"]
YAML
	printf 'quire: 1\nroles:\n  w: { provider: mock }\n  book: { provider: mock, params: { mode: echo } }\n' >quire.yaml
	for i in $(seq 0 $(($2 - 1))); do echo "scene $i" >prompts/scene-$i.md; done
}

# A project made by 'quire init' on the machinery's fixed story graph (tests/fixtures/
# story-flat: 11 instances), whatever the bundled story blueprint becomes; tests of the
# bundled blueprints init them by name.
new_story() {
	"$QUIRE" init "$1" >/dev/null || { echo "Bail out! quire init failed"; exit 1; }
	cd "$1" || exit 1
	rm -rf prompts schemas
	cp -R "$FIXTURES/story-flat/." . && rm README.md
}

# start_fixture SCRIPT ARGS...: starts tests/fixtures/SCRIPT on 127.0.0.1 (for at most 110 s),
# setting fixture_pid and fixture_port (the first line it prints); bails out, with what it
# said, when it does not start.
start_fixture() {
	local script=$1 log="$TRASH/${1%.py}"
	shift
	python3 "$FIXTURES/$script" --lifetime 110 "$@" >"$log.port" 2>"$log.err" &
	fixture_pid=$!
	# Up to 30 s: on a loaded 2-core CI machine a Python server once took over 10 s to
	# print its port.
	for _ in $(seq 300); do
		[ -s "$log.port" ] && break
		sleep 0.1
	done
	fixture_port=$(head -1 "$log.port")
	case "$fixture_port" in
	'' | *[!0-9]*) echo "Bail out! $script did not start: $(cat "$log.err")"; exit 1 ;;
	esac
}

# start_fake_openai KEY: starts tests/fixtures/fake_openai.py, setting PORT, BASE (its /v1
# URL) and server (its pid).
start_fake_openai() {
	start_fixture fake_openai.py --key "$1"
	server=$fixture_pid
	PORT=$fixture_port
	BASE="http://127.0.0.1:$PORT/v1"
}

# fake_count CASE: how many requests the fake OpenAI server saw for a case.
fake_count() {
	python3 -c '
import json,sys,urllib.request
c=json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))["counts"]
print(c.get(sys.argv[2], 0))' "$PORT" "$1"
}

# start_fake_bazel [--auth USER:PASSWORD] [--prefix NAME] [--latency-ms N]: starts
# tests/fixtures/fake_bazel_remote.py, setting BZ_PORT, BZ (its base URL) and bazel (its
# pid, which cleanup kills without bash reporting it killed).
start_fake_bazel() {
	start_fixture fake_bazel_remote.py "$@"
	bazel=$fixture_pid
	disown "$bazel"
	BZ_PORT=$fixture_port
	BZ="http://127.0.0.1:$BZ_PORT"
}

# bz_stats EXPR: a Python expression over the fake bazel-remote's /stats document (s).
bz_stats() {
	python3 -c '
import json,sys,urllib.request
s=json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))
print(eval(sys.argv[2]))' "$BZ_PORT" "$1"
}

# bz_control drop|poison HEX: makes the fake bazel-remote forget or damage what it holds.
bz_control() {
	python3 -c '
import sys,urllib.request
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s/control/%s/%s" % tuple(sys.argv[1:]), data=b"", method="POST")).read()' "$BZ_PORT" "$1" "$2"
}

# start_nginx_dav: starts Debian's nginx on 127.0.0.1 with a WebDAV location that takes PUT
# (a shared cache as docs/sharing.md sets one up), in the foreground of a background job and
# as this user (cleanup kills it); sets NGINX_URL, NGINX_DATA (what it serves) and nginx.
start_nginx_dav() {
	local d="$TRASH/nginx" port
	mkdir -p "$d/data" "$d/tmp"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$d/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	client_max_body_size 0;
	server {
		listen 127.0.0.1:$port;
		location / {
			root $d/data;
			dav_methods PUT;
			create_full_put_path on;
			dav_access user:rw;
		}
	}
}
NGINX
	/usr/sbin/nginx -p "$d" -c "$d/nginx.conf" 2>"$d/stderr" &
	nginx=$!
	disown "$nginx" # killed by cleanup, without the shell's "Killed" line
	local up='import socket,sys
try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
except OSError: sys.exit(1)'
	for _ in $(seq 100); do
		python3 -c "$up" "$port" && break
		sleep 0.1
	done
	python3 -c "$up" "$port" ||
		{ echo "Bail out! nginx did not start: $(cat "$d/stderr" "$d/error.log" 2>/dev/null)"; exit 1; }
	NGINX_URL="http://127.0.0.1:$port"
	NGINX_DATA="$d/data"
}

done_testing() {
	echo "1..$T_NUM"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}
