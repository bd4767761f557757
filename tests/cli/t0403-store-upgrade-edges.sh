#!/bin/bash
# The move of a store made by quire 0.1 to format 2 where it can go wrong: a run killed while
# the store could not be moved (a damaged manifest) is recovered by the run that moves it,
# onto the converted head, nothing generated twice; a move cut short after current moved
# stops the command (no format-1 commit onto a format-2 head) and the next one finishes it;
# format-1 manifests left beside the packs (a crash among their removal) are finished off
# by the next writer.
. "$(dirname "$0")/lib.sh"
cp -r "$FIXTURES/store-v1" s && cd s || exit 1
chmod -R u+w .
cp .quire/manifests/rev-0003.json "$TRASH/good.json"
python3 - .quire/manifests/rev-0003.json <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
i = b.index(b'"artefacts": {') + 16
b[i] = ord("!")
open(p, "wb").write(bytes(b))
PY
sed -i 's/^Tone: .*/Tone: bright/' inputs.yaml
kill_part_way 3 "a run on the store a damaged manifest keeps in format 1 gets part way"
check "the store was not moved" test ! -e .quire/format -a -z "$(ls .quire/revs 2>/dev/null)"
check "the run said why, and that every writer tries again" grep -q \
	"history stays in format 1 (as an earlier quire wrote it), and every run and edit tries again to move it: .*rev-0003.*'quire fsck' lists what is damaged" killed.out
cp "$TRASH/good.json" .quire/manifests/rev-0003.json
run_q "the manifest restored, the next run" 0 run --json
redone=$(count_events produced)
check "generating only what was unfinished ($redone <= $((11 - done_before)))" \
	test "$redone" -le $((11 - done_before))
is "the store is in format 2" "$(cat .quire/format)" 2
run_q "the log" 0 inspect --log --json
check "the recovered revision's parent is the converted head" python3 -c '
import json,os,subprocess,sys
rows=json.load(open(sys.argv[1]))
old=json.loads(subprocess.check_output([os.environ["QUIRE"],"inspect","--revision","rev-0007","--json"]))["revision"]
rec=[r for r in rows if r.get("recovered")]
assert len(rec)==1 and rec[0]["parent"]==old, rows[:3]' "$TRASH/.out"
revisions=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TRASH/.out")
run_q "fsck" 0 fsck
check "nothing damaged" out_has "nothing is damaged"

# Format-1 files left beside the packs, as a crash among their removal leaves them.
cp "$FIXTURES/store-v1/.quire/manifests/rev-0006.json" "$FIXTURES/store-v1/.quire/manifests/rev-0007.json" .quire/manifests/
run_q "an edit" 0 edit --set Tone=wry
is "removes them" "$(ls .quire/manifests | wc -l)" 0
run_q "the log" 0 inspect --log --json
check "lists each revision once" python3 -c '
import json,sys
rows=json.load(open(sys.argv[1])); names=[r["revision"] for r in rows]
assert len(names)==len(set(names))==int(sys.argv[2])+1, names' "$TRASH/.out" "$revisions"

# A move cut short after current moved: the command stops; the next one finishes the move.
cd "$TRASH" && cp -r "$FIXTURES/store-v1" t && cd t && chmod -R u+w . || exit 1
mkdir .quire/format
sed -i 's/^Tone: .*/Tone: bright/' inputs.yaml
run_q "a run whose move cannot be finished" 5 run
check "says why" err_has "moving this project's history to format 2: "
check "naming the file" err_has ".quire/format"
is "commits nothing in format 1" "$(ls .quire/manifests | wc -l)" 0
is "nor in format 2" "$(ls .quire/revs | wc -l)" 7
rmdir .quire/format
QUIRE_MOCK_FAIL='*' run_q "the next run after it is mended" 1 run --json
is "the store is in format 2" "$(cat .quire/format)" 2
is "no format-1 manifest is left" "$(ls .quire/manifests | wc -l)" 0
run_q "a real run" 0 run
run_q "fsck" 0 fsck
check "nothing damaged" out_has "nothing is damaged"
done_testing
