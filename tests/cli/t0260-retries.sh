#!/bin/bash
# Transient failures are retried with backoff up to the role's limit; per-role concurrency
# limits how many generations of one role run at once.
. "$(dirname "$0")/lib.sh"
new_story s
sed -i 's/^    model: mock-writer$/    model: mock-writer\n    retry_base_ms: 10/' quire.yaml
QUIRE_MOCK_FLAKY='Chapter[1]' run_q "a flaky chapter succeeds on its third attempt" 0 run --json
is "everything was produced" "$(count_events produced)" 11
run_q "inspect it" 0 inspect --json 'Chapter[1]'
check "attempts recorded" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["attempts"]==3' "$TRASH/.out"
run_q "others took one attempt" 0 inspect --json 'Chapter[0]'
check "one attempt" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["attempts"]==1' "$TRASH/.out"

sed -i 's/^    retry_base_ms: 10$/    retry_base_ms: 10\n    retries: 1/' quire.yaml
echo "Be brief." >>prompts/chapter.md
QUIRE_MOCK_FLAKY='Chapter[1]' run_q "with retries: 1 the same failure is final" 1 run --json
check "after two attempts" sh -c "grep -q 'after 2 attempts' '$TRASH/.out'"
echo "Be vivid." >>prompts/chapter.md
QUIRE_MOCK_FAIL='Chapter[2]' run_q "permanent failure" 1 run --json
check "no retry note on a permanent failure" sh -c "grep '\"failed\"' '$TRASH/.out' | grep -q 'injected failure for Chapter\[2\]' && ! grep -q 'attempts)' '$TRASH/.out'"

cd "$TRASH" && new_story c
sed -i 's/^    model: mock-writer$/    model: mock-writer\n    concurrency: 1/' quire.yaml
QUIRE_MOCK_LATENCY_MS=30 run_q "a run with writer concurrency 1 at -j 4" 0 run -j 4 --json
check "never more than one writer job at a time" python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert max(e.get("running",0) for e in ev if e["event"]!="summary")==1, ev' "$TRASH/.out"
cd "$TRASH" && new_story u
QUIRE_MOCK_LATENCY_MS=30 run_q "without a limit the same run is parallel" 0 run -j 4 --json
check "several jobs ran at once" python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert max(e.get("running",0) for e in ev if e["event"]!="summary")>1' "$TRASH/.out"
done_testing
