#!/bin/bash
# plan says what a run would take from a cache instead of paying for it: 'cached' from the
# local action cache, 'cached (remote)' from the shared cache (a real nginx); the estimate
# counts only what would be paid; a recorded output in neither is "output missing here and
# in the remote cache"; a clone whose out/ is not committed re-pays nothing the shared cache
# holds.
. "$(dirname "$0")/lib.sh"
start_nginx_dav
g() { git -c user.email=w@example.org -c user.name=Writer "$@"; }
new_story a
sed -i 's/^    model: mock-writer$/    model: mock-writer\n    price: { per_call: 0.002, input_per_mtok: 0.15, output_per_mtok: 0.6, estimate_tokens_out: 800 }/' quire.yaml
printf 'cache: { remote: "%s" }\n' "$NGINX_URL" >>quire.yaml
echo "out/" >>.gitignore
g init -q . && run_q "first run" 0 run
g add -A && g commit -qm "first draft"

# The local action cache: back to an earlier value, every instance it makes is there.
tone=$(sed -n 's/^Tone: //p' inputs.yaml)
run_q "another tone" 0 edit --set Tone=eerie
run_q "plan with nothing made for it" 0 plan
check "runs the outline" grep -qE '^  run +Outline ' "$TRASH/.out"
run_q "run it" 0 run
run_q "the tone back" 0 edit --set "Tone=$tone"
run_q "plan" 0 plan
check "the outline is cached" grep -qE '^  cached +Outline +input changed: Tone' "$TRASH/.out"
check "the header counts it" out_has "from the cache)"
check "and what reads it, known once the outline is" grep -qE '^  cached +Book ' "$TRASH/.out"
check "the header counts all eleven" out_has "plan: 11 to run (11 from the cache)"
run_q "plan --json" 0 plan --json
check "says where it comes from" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
c={i["id"]: i.get("cached") for i in d["instances"]}
assert set(c.values())=={"local"}, c' "$TRASH/.out"
run_q "plan --check asks no cache and still says dirty" 1 plan --check

# The estimate counts only what would be paid, and so does a run's --max-cost.
run_q "a third tone, never run" 0 edit --set Tone=wry
run_q "plan --json for it" 0 plan --json
check "is paid for" python3 -c '
import json,sys; e=json.load(open(sys.argv[1]))["estimate"]
assert e["roles"]["writer"]["instances"]==10 and e["total_micro"]>0, e' "$TRASH/.out"
run_q "the tone back again" 0 edit --set "Tone=$tone"
run_q "plan --json" 0 plan --json
check "costs nothing: every instance is cached" python3 -c '
import json,sys; e=json.load(open(sys.argv[1]))["estimate"]
assert e["total_micro"]==0 and "writer" not in e["roles"], e' "$TRASH/.out"
run_q "run --dry-run --max-cost with the smallest limit" 0 run --dry-run --max-cost 0.000001
run_q "the run with that limit" 0 run --max-cost 0.000001 --json
is "pays for nothing" "$(count_events produced)" 0

# A clone without out/ restores what the cache holds before it prices the run.
cd "$TRASH" && git clone -q a b2 && cd b2 || exit 1
QUIRE_MOCK_FAIL='*' run_q "run --max-cost with the smallest limit in a clone without out/" 0 run --max-cost 0.000001 --json
is "pays for nothing" "$(count_events produced)" 0
check "and has the book" test -s out/Book.md

# A clone without out/: everything comes from the shared cache, and plan says so.
cd "$TRASH" && git clone -q a b && cd b || exit 1
run_q "plan in a clone that has no out/" 0 plan
check "everything is cached (remote)" out_has "(11 from the remote cache)"
check "each listed so" grep -qE '^  cached \(remote\)  Outline +output missing' "$TRASH/.out"
run_q "plan --explain" 0 plan --explain
check "the reasons are indented past the verb" grep -qE '^ {21}output missing$' "$TRASH/.out"
run_q "plan --no-remote" 0 plan --no-remote
check "asks no shared cache" sh -c "! grep -q 'cached' '$TRASH/.out'"

# A recorded output whose result is gone from the cache but whose blob is there: the run
# restores it by its digest, and plan says so.
f1=$(python3 -c 'import json; print(json.load(open("'"$(revjson 1)"'"))["artefacts"]["Chapter[1]"]["fingerprint"][7:])')
rm "$NGINX_DATA/ac/$f1"
run_q "plan with a result gone" 0 plan
check "still takes its output from the cache" grep -qE '^  cached \(remote\)  Chapter\[1\] ' "$TRASH/.out"

# One output gone from the shared cache too: plan says so.
d=$(python3 -c 'import json; print(json.load(open("'"$(revjson 1)"'"))["artefacts"]["Chapter[2]"]["digest"][7:])')
rm "$NGINX_DATA/cas/$d"
run_q "plan --explain" 0 plan --explain
check "runs it" grep -qE '^  run +Chapter\[2\]$' "$TRASH/.out"
check "with the reason" out_has "output missing here and in the remote cache"
run_q "plan --json" 0 plan --json
check "in the JSON too" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
i={i["id"]: i for i in d["instances"]}
assert i["Chapter[2]"]["reasons"]==["output missing here and in the remote cache"], i["Chapter[2]"]
assert "cached" not in i["Chapter[2]"] and i["Chapter[1]"]["cached"]=="remote", d' "$TRASH/.out"
run_q "the run" 0 run --json
is "makes only that one" "$(event_ids produced)" "Chapter[2]"
check "the rest came from the cache before planning: only what reads it is checked" python3 -c '
import json,sys; s=[json.loads(l) for l in open(sys.argv[1])][-1]
assert s["produced"]==1 and s["unchanged"]+s["cached"]==3 and s["out_written"]==11, s' "$TRASH/.out"

# An unreachable cache: said once, the plan goes on.
cd "$TRASH" && git clone -q a c && cd c || exit 1
QUIRE_REMOTE_CACHE=http://127.0.0.1:1 run_q "plan with the cache unreachable" 0 plan
is "said once" "$(grep -c 'warning: the remote cache' "$TRASH/.err")" 1
check "and nothing is called cached" sh -c "! grep -q 'cached' '$TRASH/.out'"
# The action cache names an output its store lost (removed as damaged, by hand): the run, as
# the plan says, takes it from the shared cache rather than paying again.
cd "$TRASH/a" || exit 1
d=$(python3 -c 'import json; print(json.load(open("'"$(current_json)"'"))["artefacts"]["Book"]["digest"][7:])')
blob_rm "$d"
rm -f out/Book.md
run_q "plan" 0 plan
check "says the book comes from the shared cache" grep -qE '^  cached \(remote\)  Book ' "$TRASH/.out"
QUIRE_MOCK_FAIL='*' run_q "the run" 0 run --json
is "pays for nothing" "$(count_events produced)" 0
check "takes it back from there, as recorded" sh -c "test \"\$(sha256sum out/Book.md | cut -c1-64)\" = '$d'"
check "and its store holds it again" blob_has "$d"
done_testing
