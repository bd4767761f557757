#!/bin/bash
# Under 'make -jN', quire takes its worker slots from make's jobserver (make 4.3's pipes here),
# returns every token, and an explicit -j overrides it.
. "$(dirname "$0")/lib.sh"
new_story s
cat >Makefile <<'MK'
all:
	+$(QUIRE) run --json >run.json
MK
max_running() { python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(max(e.get("running",0) for e in ev if e["event"]!="summary"))' "$1"; }
QUIRE_MOCK_LATENCY_MS=150 make -j3 QUIRE="$QUIRE" >make.out 2>make.err
is "make -j3 succeeds" "$?" 0
m=$(max_running run.json)
check "quire ran jobs in parallel ($m)" test "$m" -ge 2
check "but never more than make's 3 slots ($m)" test "$m" -le 3
check "every token went back (make says nothing about tokens)" sh -c "! grep -qi 'jobserver\|tokens' make.err"
rm -rf .quire out run.json
QUIRE_MOCK_LATENCY_MS=100 make -j2 QUIRE="$QUIRE" >make.out 2>make.err
m=$(max_running run.json)
check "make -j2 bounds quire to 2 ($m)" test "$m" -le 2
rm -rf .quire out run.json
printf 'all:\n\t+$(QUIRE) run -j 1 --json >run.json\n' >Makefile
QUIRE_MOCK_LATENCY_MS=50 make -j3 QUIRE="$QUIRE" >make.out 2>make.err
is "an explicit -j 1 wins over make -j3" "$(max_running run.json)" 1
rm -rf .quire out run.json
printf 'all:\n\t$(QUIRE) run --json >run.json\n' >Makefile
QUIRE_MOCK_LATENCY_MS=50 make -j3 QUIRE="$QUIRE" >make.out 2>make.err
is "a recipe make does not treat as recursive still runs" "$?" 0
check "with quire's own default" test "$(max_running run.json)" -ge 1
done_testing
