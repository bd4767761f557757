#!/bin/bash
# A failed job blocks only its dependants; the revision records it; the next run retries just it.
. "$(dirname "$0")/lib.sh"
new_story s
QUIRE_MOCK_FAIL='Chapter[1]' run_q "a run with one failing chapter exits 1" 1 run --json
is "the failure is reported" "$(event_ids failed)" "Chapter[1]"
is "its dependants are blocked" "$(event_ids blocked)" "Book Scene[1][0] Scene[1][1]"
is "everything else was produced" "$(count_events produced)" 7
check "the summary names the counts" out_has '"failed":1'
check "the revision was committed" test -f $(pack 1)
run_q "inspect the failed instance" 0 inspect 'Chapter[1]'
check "status failed" out_has "status:      failed"
check "with the provider's message" out_has "injected failure for Chapter[1]"
run_q "plan says why it will run again" 0 plan --explain
check "previously failed" out_has "previously failed"
run_q "the next run succeeds" 0 run --json
is "just the failed one and what it blocked ran" "$(event_ids produced)" "Book Chapter[1] Scene[1][0] Scene[1][1]"
run_q "then nothing is left" 0 plan --check

# A failed re-run keeps the old output visible as stale, never as clean.
echo "More dialogue." >>prompts/chapter.md
old=$(cat out/Chapter-1.md)
QUIRE_MOCK_FAIL='Chapter[1]' run_q "a failing re-run" 1 run
run_q "inspect after the failing re-run" 0 inspect 'Chapter[1]'
check "the old output is stale" out_has "status:      stale"
is "out/ still holds the old text" "$(cat out/Chapter-1.md)" "$old"
run_q "plan --check still sees work" 1 plan --check

# --fail-fast starts nothing new after the first failure.
cd "$TRASH" && new_story ff
QUIRE_MOCK_FAIL='Scene[1][0]' run_q "fail-fast run" 1 run -j 1 --fail-fast --json
check "work was left unstarted" python3 -c '
import json,sys
s=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
assert s["not_started"]==s["total"]-s["produced"]-1, s' "$TRASH/.out"
QUIRE_MOCK_FAIL='Scene[1][0]' run_q "fail-fast run, as text" 1 run -j 1 --fail-fast
check "work was left unstarted" out_has "not started"
run_q "the next run finishes the job" 0 run
run_q "up to date" 0 plan --check

# Jobs as short as the mock's are queued ahead of the workers: each is still reported started
# before it is reported done, once, and never more than -j are reported running.
cd "$TRASH" && new_story pp
sed -i 's/^Chapters: .*/Chapters: 12/' inputs.yaml
run_q "a run of short jobs at -j 2" 0 run -j 2 --json
check "every start before its end, at most 2 running" python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
started=set()
for e in ev[:-1]:
    assert e["running"]<=2, e
    if e["event"]=="start":
        assert e["id"] not in started, e
        started.add(e["id"])
    else:
        assert e["id"] in started, e
assert len(started)==ev[-1]["produced"], ev[-1]' "$TRASH/.out"

# Nor the job queued for the worker to take as soon as it is free: jobs as short as the
# mock's are queued ahead of the workers. Slow, on the longest path, starts first and fails
# after 300 ms, long after Fast[0] was queued behind it.
cd "$TRASH" && mkdir q && cd q && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: queue
inputs:
  N: { type: int, default: 4 }
producers:
  Gate: { role: fast, prompt: prompts/p.md }
  Fast:
    foreach: { i: N }
    role: fast
    prompt: prompts/p.md
    uses: [Gate]
  Slow: { role: slow, prompt: prompts/p.md, uses: [Gate] }
  After: { role: fast, prompt: prompts/p.md, uses: [Slow] }
YAML
cat >quire.yaml <<'YAML'
quire: 1
roles:
  fast: { provider: mock, model: a }
  slow: { provider: mock, model: a, params: { latency_ms: 300, fail: Slow } }
YAML
echo "N: 4" >inputs.yaml
echo "step" >prompts/p.md
run_q "fail-fast with a job queued behind the failing one" 1 run -j 1 --fail-fast --json
check "nothing started after the failure" python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
k=[(e["event"],e.get("id")) for e in ev]
assert k[:4]==[("start","Gate"),("produced","Gate"),("start","Slow"),("failed","Slow")], k
assert k[4][0]=="summary" and ev[4]["not_started"]==5, k' "$TRASH/.out"

# Ctrl-C while Slow runs (for 20 s now): Fast[0], queued behind it, is not started either.
mkdir ../q2 && cp -R blueprint.yaml quire.yaml inputs.yaml prompts ../q2 && cd ../q2
sed -i 's/latency_ms: 300, fail: Slow/latency_ms: 20000/' quire.yaml
"$QUIRE" run -j 1 --json >int.out 2>int.err &
pid=$!
for _ in $(seq 100); do grep -q '"start","id":"Slow"' int.out && break; sleep 0.1; done
check "Slow started" grep -q '"start","id":"Slow"' int.out
sleep 0.3
interrupt "$pid" 10 "the run"
check "nothing else started" python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert [e.get("id") for e in ev if e["event"]=="start"]==["Gate","Slow"], ev
assert ev[-1]["event"]=="summary" and ev[-1]["interrupted"], ev' int.out
done_testing
