#!/bin/bash
# run --shard K/N: three clones (three CI jobs) share one project's generation through a
# shared cache (a real nginx): each makes the instances of its shard and waits for what it
# reads from the others there; every instance is paid for once; a final run in a fourth
# clone takes everything from the cache with no provider call, and writes the same book.
. "$(dirname "$0")/lib.sh"
start_nginx_dav
g() { git -c user.email=w@example.org -c user.name=Writer "$@"; }
q init ref >/dev/null && cd ref && run_q "a reference run on one machine" 0 run && cd .. || exit 1
q init s >/dev/null && cd s || exit 1
printf 'cache: { remote: "%s" }\n' "$NGINX_URL" >>quire.yaml
g init -q . && g add -A && g commit -qm "the project, nothing made" && cd .. || exit 1
for k in 1 2 3 4; do git clone -q s "s$k" || exit 1; done

# The three shards at once; each instance takes a while, so they overlap and wait.
for k in 1 2 3; do
	(cd "s$k" && QUIRE_MOCK_LATENCY_MS=150 "$QUIRE" run --shard "$k/3" --json \
		>"$TRASH/shard$k.out" 2>"$TRASH/shard$k.err"; echo $? >"$TRASH/shard$k.rc") &
done
wait
for k in 1 2 3; do
	is "shard $k/3 succeeds" "$(cat "$TRASH/shard$k.rc")" 0
	check "shard $k/3 made something" grep -q '"event":"produced"' "$TRASH/shard$k.out"
done
check "each instance was made once, by one shard" python3 -c '
import json,sys
made=[]
for f in sys.argv[1:]:
    for l in open(f):
        e=json.loads(l)
        if e.get("event")=="produced": made.append(e["id"])
assert len(made)==14 and len(set(made))==14, sorted(made)' "$TRASH"/shard{1,2,3}.out
check "a shard waited for what another made" grep -hq '"event":"awaiting".*made by shard' "$TRASH"/shard{1,2,3}.out
check "and took it from the cache" grep -hq '"event":"cached"' "$TRASH"/shard{1,2,3}.out
is "nothing committed to git by a shard" "$(cd s1 && git status --porcelain --untracked-files=no)" ""

cd s4 || exit 1
# Any provider call would fail: the mock is told to fail every instance.
QUIRE_MOCK_FAIL='*' run_q "the final run, in another clone" 0 run --json
is "makes nothing" "$(count_events produced)" 0
is "takes all fourteen from the cache" "$(count_events cached)" 14
check "the book is the one a single machine writes" cmp -s out/Book.md ../ref/out/Book.md

# Alone, a shard waits for the others only so long, and never makes their instances.
cd "$TRASH" && git clone -q s alone && cd alone || exit 1
run_q "a tone no shard has made" 0 edit --set Tone=eerie
QUIRE_REMOTE_CACHE="file://$TRASH/empty-cache" run_q "shard 1/3 on its own, waiting 1 s" 1 run --shard 1/3 --shard-timeout 1 --json
check "what another shard makes times out" grep -q '"event":"failed".*not in the shared cache after 1 s of waiting' "$TRASH/.out"
check "and is not made here" python3 -c '
import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="failed": assert "shard" in e["message"], e' "$TRASH/.out"

# A shard shares its part however this store came by it: made before, with no cache.
shard_of() { python3 -c 'import hashlib,sys; print(int(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16],16) % int(sys.argv[2]) + 1)' "$1" "$2"; }
cd "$TRASH" && git clone -q s x1 && git clone -q s x2 && cd x1 || exit 1
QUIRE_NO_REMOTE=1 run_q "a run with no cache" 0 run
QUIRE_REMOTE_CACHE="file://$TRASH/fc1" run_q "shard 1/2 with nothing left to make" 0 run --shard 1/2
cd ../x2 || exit 1
QUIRE_REMOTE_CACHE="file://$TRASH/fc1" run_q "shard 2/2 on another machine" 0 run --shard 2/2 --shard-timeout 10 --json
check "had what shard 1/2 held" grep -q '"event":"cached"' "$TRASH/.out"
check "made only its own part" python3 -c '
import json,hashlib,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="produced":
        assert int(hashlib.sha256(e["id"].encode()).hexdigest()[:16],16) % 2 == 1, e' "$TRASH/.out"

# A failure in one shard is said in the cache: the shards waiting for it stop at once.
cd "$TRASH" && git clone -q s y1 && git clone -q s y2 || exit 1
o=$(shard_of Outline 2); other=$((3 - o))
cd y1 && QUIRE_MOCK_FAIL=Outline QUIRE_REMOTE_CACHE="file://$TRASH/fc2" run_q "shard $o/2, whose outline fails" 1 run --shard "$o/2" --json
check "says the outline failed" grep -q '"event":"failed","id":"Outline"' "$TRASH/.out"
cd ../y2 || exit 1
t0=$(date +%s)
QUIRE_REMOTE_CACHE="file://$TRASH/fc2" run_q "shard $other/2, which reads the outline" 1 run --shard "$other/2" --shard-timeout 60 --json
check "stops waiting at once, naming the failure" grep -q '"event":"failed","id":"Outline","message":"shard '"$o"'/2 could not make it: mock: injected failure' "$TRASH/.out"
check "without waiting for the timeout" test $(($(date +%s) - t0)) -lt 30
QUIRE_NO_REMOTE=1 run_q "its own plan afterwards" 0 plan --json
check "does not call the outline a failure of its own" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
r={i["id"]: i["reasons"] for i in d["instances"]}
assert r["Outline"]==["new"], r["Outline"]' "$TRASH/.out"

# A shard whose cache fails pays for nothing it cannot share.
cd "$TRASH" && git clone -q s z && cd z || exit 1
QUIRE_REMOTE_CACHE=http://127.0.0.1:1 run_q "a shard with the cache unreachable" 5 run --shard 1/1 --json
is "makes nothing" "$(count_events produced)" 0
check "says why it stopped" err_has "the shared cache failed"

# What a shard needs and what it refuses.
QUIRE_NO_REMOTE=1 run_q "a shard with no shared cache" 3 run --shard 1/2
check "says it needs one" err_has "run --shard needs a shared cache it can write"
QUIRE_CACHE_PUSH=0 QUIRE_REMOTE_CACHE="file://$TRASH/c2" run_q "a shard that may not write it" 3 run --shard 1/2
run_q "shard 4 of 3" 2 run --shard 4/3
check "is a usage error" err_has "--shard needs K/N"
run_q "a shard with --commit" 2 run --shard 1/2 --commit
run_q "a shard with targets" 2 run --shard 1/2 Outline
run_q "--shard-timeout alone" 2 run --shard-timeout 5
done_testing
