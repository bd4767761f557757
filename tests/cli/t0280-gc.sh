#!/bin/bash
# quire gc: removes blobs that no revision, take or action-cache entry keeps; --dry-run only
# counts; afterwards every revision can still be shown, rewound to and rebuilt from the cache.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "rev-0001" 0 run
sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
run_q "rev-0002" 0 run
run_q "a new take" 0 run --regenerate 'Chapter[0]'
run_q "gc --dry-run on a store with nothing unreferenced" 0 gc --dry-run --json
check "would remove nothing" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["removed"]==0 and d["kept"]>30, d' "$TRASH/.out"
# Orphans: what a killed run adopted before its event, or a file dropped in by hand.
for text in orphan-one orphan-two; do
	d=$(printf '%s' "$text" | sha256sum | cut -d' ' -f1)
	mkdir -p ".quire/blobs/sha256/${d:0:2}"
	printf '%s' "$text" >".quire/blobs/sha256/${d:0:2}/$d"
done
count_blobs() { find .quire/blobs -type f | wc -l; }
before=$(count_blobs)
run_q "gc --dry-run" 0 gc --dry-run
check "counts the two orphans" out_has "would remove 2 blobs"
is "and removes nothing" "$(count_blobs)" "$before"
run_q "gc" 0 gc
check "removes them" out_has "removed 2 blobs"
is "two fewer blobs" "$(count_blobs)" "$((before - 2))"
run_q "every revision still shows its artefacts" 0 inspect --revision $(rev 1) 'Chapter[0]'
run_q "the first take is still selectable" 0 edit 'Chapter[0]' --take 0
run_q "rewinding to rev-0001 still works" 0 rewind $(rev 1) --yes
run_q "and rebuilding needs no generation" 0 run --json
is "nothing produced" "$(count_events produced)" 0
run_q "a second gc finds nothing" 0 gc
check "nothing removed" out_has "removed 0 blobs"

# Small blobs are packed (.quire/blobs/pack.db); a store made before packs has them as files,
# and gc moves the ones it keeps into the pack. An orphan in the pack is removed like a file.
d=$(python3 -c 'import json; print(json.load(open("'"$(current_json)"'"))["artefacts"]["Chapter[0]"]["digest"][7:])')
check "a small output is packed" test ! -e ".quire/blobs/sha256/${d:0:2}/$d"
blob_unpack "$d"
check "(as a file, as before packs)" test "$(sha256sum ".quire/blobs/sha256/${d:0:2}/$d" | cut -c1-64)" = "$d"
python3 -c '
import hashlib, sqlite3
db = sqlite3.connect(".quire/blobs/pack.db")
b = b"an orphan in the pack"
db.execute("INSERT INTO blob(d, data) VALUES(?, ?)", (hashlib.sha256(b).digest(), b))
db.commit()'
run_q "gc" 0 gc --json
check "removes the packed orphan, packs the file" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["removed"]==1 and d["packed"]==1, d' "$TRASH/.out"
check "the file is gone" test ! -e ".quire/blobs/sha256/${d:0:2}/$d"
check "its shard directory too" test ! -e ".quire/blobs/sha256/${d:0:2}"
check "the blob is in the pack" blob_has "$d"
run_q "fsck" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"
run_q "gc in words" 0 gc
check "packs nothing more" out_lacks "packed"
# The plans of runs but the last ten go; a file only named like one stays.
for n in 1 2 3 4 5 6 7 8 9 10 11 12; do echo '{}' >.quire/runs/run-90$(printf %02d $n)-plan.json; done
echo '{}' >.quire/runs/run-x-plan.json
ls .quire/runs/run-*-plan.json | sort -t- -k2 -n | tail -10 >"$TRASH/kept"
run_q "gc with plans of many runs" 0 gc
is "keeps the last ten runs' plans" "$(ls .quire/runs/run-[0-9]*-plan.json | sort -t- -k2 -n)" "$(cat "$TRASH/kept")"
check "and a file only named like one" test -e .quire/runs/run-x-plan.json
done_testing
