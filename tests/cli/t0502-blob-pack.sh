#!/bin/bash
# Small blobs are packed in .quire/blobs/pack.db: a plan reads them while another process
# holds the pack's write lock (a pull writing blobs), a diff of packed outputs needs nothing
# written in the store, and fsck --repair puts every blob a damaged pack still holds whole
# into a new one, so the next run makes only what was lost.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "a first run" 0 run
check "outputs are packed" test -s .quire/blobs/pack.db
d=$(python3 -c 'import json; print(json.load(open("'"$(current_json)"'"))["artefacts"]["Chapter[0]"]["digest"][7:])')
check "not files" test ! -e ".quire/blobs/sha256/${d:0:2}/$d"

# Another process writing the pack (held for 8 s): reading goes on at once, and right.
python3 -c '
import sqlite3, sys, time
db = sqlite3.connect(".quire/blobs/pack.db", isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(8)
db.execute("ROLLBACK")' >"$TRASH/lock.out" &
locker=$!
for _ in $(seq 50); do grep -q locked "$TRASH/lock.out" && break; sleep 0.1; done
start=$(date +%s.%N)
run_q "plan while another process writes the pack" 0 plan --check
took=$(echo "$(date +%s.%N) - $start" | bc)
check "does not wait for it ($took s)" test "$(echo "$took < 4" | bc)" = 1
run_q "fsck then" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"
wait $locker

# A diff of packed outputs, the store read-only: copies go to TMPDIR, none stays.
echo "A darker tone." >>prompts/chapter.md
run_q "a changed prompt" 0 run
mkdir -p "$TRASH/tmp"
chmod -R a-w .quire/blobs
TMPDIR="$TRASH/tmp" run_q "diff of packed outputs" 0 diff
chmod -R u+w .quire/blobs
check "shows the changed text" grep -q "^+++ Chapter\[0\]@$(rev 2)" "$TRASH/.out"
is "leaves no copy behind" "$(ls -A "$TRASH/tmp" | wc -l)" 0

# A damaged page in the middle of the pack.
run_q "checkpointed (a read-only command closes it)" 0 status
python3 -c '
import os
p = ".quire/blobs/pack.db"
n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek((n // 4096 // 2) * 4096)
    f.write(b"\xff" * 4096)'
run_q "fsck on a damaged pack" 5 fsck
check "names it" out_has ".quire/blobs/pack.db"
run_q "fsck --repair" 0 fsck --repair
check "moves it aside" sh -c 'ls .quire/blobs/pack.db.damaged-* >/dev/null'
check "and says how many blobs it kept" grep -qE "the [0-9]+ blobs? that still read whole" "$TRASH/.out"
kept=$(grep -oE "the [0-9]+ blob" "$TRASH/.out" | grep -oE "[0-9]+")
check "some ($kept)" test "$kept" -gt 0
missing_then=$(grep -oE "^[0-9]+ blobs? named by revisions are not in the store" "$TRASH/.out")
run_q "fsck after" 0 fsck
is "the repair listed as missing only what the pack lost" \
	"$(grep -oE "^[0-9]+ blobs? named by revisions are not in the store" "$TRASH/.out")" "$missing_then"
run_q "the next run" 0 run --json
made=$(count_events produced)
check "makes only what was lost ($made of 14)" test "$made" -lt 14
run_q "up to date" 0 plan --check
done_testing
