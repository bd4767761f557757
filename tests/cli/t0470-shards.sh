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
