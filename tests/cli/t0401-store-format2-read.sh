#!/bin/bash
# A store moved to format 2 (tests/fixtures/store-v1 upgraded by quire_rev2_upgrade, which
# commands do not call yet) reads through the commands as its format-1 self did: nothing to
# do and no provider called, its history named anew but in the same order and found by its
# old names too, takes and hand edit intact, diffs, rewind and fsck; a damaged pack is named.
. "$(dirname "$0")/lib.sh"
cp -r "$FIXTURES/store-v1" s && cd s || exit 1
chmod -R u+w .
q inspect --log --json >../v1-log.json
q inspect --diff rev-0003 rev-0007 >../v1-diff.txt
"$QUIRE_TEST_UPGRADE" . >../names.txt
is "the upgrade" "$?" 0
is "converts the seven revisions" "$(wc -l <../names.txt)" 7
check "and leaves no format-1 manifest" test -z "$(ls .quire/manifests)"
is "current names the converted head" "$(cat .quire/current)" "$(grep rev-0007 ../names.txt | cut -d' ' -f2)"
run_q "plan on the format-2 store" 0 plan --check
run_q "fsck on it" 0 fsck
check "finds nothing damaged" out_has "fsck: 7 revisions"
check "nothing damaged" out_has "nothing is damaged"
QUIRE_MOCK_FAIL='*' run_q "run: nothing to do, no provider called" 0 run --json
is "nothing produced" "$(count_events produced)" 0
check "nothing committed" out_has '"revision":null'
# The upgrade writes the head's index (.quire/runs/, a cache), and no rendering of its text.
check "writes the head's index" test -s .quire/runs/$(cat .quire/current)-index.tsv
check "and no rendering of its text" test ! -e .quire/runs/$(cat .quire/current).json
state=$(store_state)
run_q "the history" 0 inspect --log --json
check "is the same seven revisions in the same order, each renamed" python3 -c '
import json,sys
names=dict(l.split() for l in open("../names.txt"))
v1=json.load(open("../v1-log.json")); v2=json.load(open(sys.argv[1]))
assert [names[r["revision"]] for r in v1]==[r["revision"] for r in v2], (v1, v2)
for a,b in zip(v1,v2):
    assert (names.get(a["parent"]) if a["parent"] else None)==b["parent"], (a,b)
    for k in ("created","message","produced","edited","artefacts"):
        assert a[k]==b[k], (k,a,b)' "$TRASH/.out"
is "reading it changed nothing kept" "$(store_state)" "$state"
run_q "the hand-edited chapter" 0 inspect 'Chapter[2]'
check "is user-edited" out_has "user-edited"
run_q "the regenerated scene's takes" 0 inspect 'Scene[0][0]' --takes
check "has two takes" out_has "take 1"
run_q "a diff by the old names" 0 inspect --diff rev-0003 rev-0007
check "is the diff it was" python3 -c '
import sys
names=dict(l.split() for l in open("../names.txt"))
old=open("../v1-diff.txt").read()
for a,b in names.items():
    old=old.replace(a,b[:12])
assert open(sys.argv[1]).read()==old' "$TRASH/.out"
v4=$(grep rev-0004 ../names.txt | cut -d' ' -f2)
run_q "an old revision by a prefix of its new name" 0 inspect --diff "${v4:0:9}" current~3
check "is itself" out_has "0 artefacts changed"
run_q "rewind to before the hand edit, by its old name" 0 rewind rev-0004 --yes
check "restores the input" grep -q "^Tone: warm" inputs.yaml
QUIRE_MOCK_FAIL='*' run_q "and a run after the rewind calls no provider" 0 run --json
is "nothing produced" "$(count_events produced)" 0
run_q "the history goes on from the converted head" 0 inspect --log --json
check "eight revisions, the newest's parent the old head" python3 -c '
import json,sys
names=dict(l.split() for l in open("../names.txt"))
rows=json.load(open(sys.argv[1]))
assert len(rows)==8 and rows[0]["parent"]==names["rev-0007"], rows[:2]' "$TRASH/.out"
# Damage: one byte of a revision's pack.
v2=$(grep rev-0002 ../names.txt | cut -d' ' -f2)
printf 'X' | dd of=.quire/revs/$v2.objects bs=1 seek=200 conv=notrunc 2>/dev/null
run_q "fsck on a damaged pack" 5 fsck
check "names the pack to restore" out_has ".quire/revs/$v2.objects"
run_q "the log still lists the others" 0 inspect --log --json
check "and says which one it cannot read" python3 -c '
import json,sys
rows=json.load(open(sys.argv[1]))
bad=[r for r in rows if "error" in r]
assert len(rows)==8 and len(bad)==1 and bad[0]["revision"]==sys.argv[2], rows' "$TRASH/.out" "$v2"
done_testing
