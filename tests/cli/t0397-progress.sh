#!/bin/bash
# Progress: plain lines when not on a terminal, their counter moving one by one; on a
# terminal one status line, redrawn, never wider than the terminal, with the counts, the
# elapsed time and an estimate of what is left, then the summary.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "a run, piped" 0 run
is "the counter moves one by one" "$(grep -o '^\[[0-9]*/11\]' "$TRASH/.out" | tr -d '[]' | cut -d/ -f1 | tr '\n' ' ')" \
	"1 2 3 4 5 6 7 8 9 10 11 "
check "the summary" out_has "run: $(rev 1): 11 produced"

sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
# A 40-column terminal (script(1) gives one; stty sets its width) and mock latency, so that
# the line is redrawn while jobs run.
QUIRE_MOCK_LATENCY_MS=150 script -qec "stty cols 40 rows 20; '$QUIRE' run -j 2" /dev/null </dev/null >"$TRASH/tty.out" 2>&1
check "the run finished" grep -q "run: $(rev 2): 11 produced" "$TRASH/tty.out"
# Each redraw starts with CR and 'erase line'; what follows up to the next CR or newline is
# one status line.
python3 - "$TRASH/tty.out" <<'EOF' >"$TRASH/lines"
import re,sys
t=open(sys.argv[1],encoding="utf-8",errors="replace",newline="").read()
for seg in t.split("\r\x1b[K")[1:]:
    line=re.split(r"[\r\n]",seg)[0]
    if line and not line.startswith("run:"): print(line)
EOF
check "the status line was redrawn many times" test "$(wc -l <"$TRASH/lines")" -ge 11
check "never wider than 39 columns" test "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$TRASH/lines")" -le 39
check "counts first" grep -q '^\[[0-9]*/11\] [0-9] running' "$TRASH/lines"
QUIRE_MOCK_LATENCY_MS=150 script -qec "stty cols 200 rows 20; '$QUIRE' run -j 2 --regenerate 'Scene[*][*]'" /dev/null </dev/null >"$TRASH/tty2.out" 2>&1
check "a wide terminal shows elapsed time" grep -q 'elapsed' "$TRASH/tty2.out"
check "and an estimate of what is left" grep -q '~[0-9]*:[0-9][0-9] left' "$TRASH/tty2.out"
check "the wide run finished" grep -q "run: $(rev 3)" "$TRASH/tty2.out"
done_testing
