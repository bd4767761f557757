#!/bin/bash
# A plan trusts the blob shards in which it found every output of the current revision
# (.quire/runs/blob-trust): an output removed from the store afterwards is still missed at once.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
digest_of() { entry "$1" "$2" digest | cut -c8-; }
run_q "plan right after the run" 0 plan --check
# (Whether that plan recorded anything depends on how long it took: the shards it recorded
# were changed over a second before it looked. The unit tests check the racy rule.)
sleep 1.2
rm -f .quire/runs/blob-trust
run_q "run --dry-run a second later" 0 run --dry-run
check "writes nothing, not even this cache" test ! -e .quire/runs/blob-trust
run_q "plan a second later" 0 plan --check
check "records the shards" grep -qx "quire-blob-trust 3" .quire/runs/blob-trust
shards=$(($(wc -l <.quire/runs/blob-trust) - 2)) # the header and the pack's line
# 11 outputs and the 8 files the project read (their snapshots are kept in the store too).
is "one line per shard holding an output or a snapshot, at most" "$((shards >= 1 && shards <= 19))" 1
run_q "a trusted plan" 0 plan
check "is still up to date" out_has "plan: nothing to do, 11 up to date (current $(rev 1))"

d=$(digest_of $(revfull 1) 'Chapter[1]')
check "a small output is packed" test ! -e ".quire/blobs/sha256/${d:0:2}/$d"
check "removed by hand" blob_rm "$d"
# (out/ holds no copy either: plan would take one back from there.)
cp out/Chapter-1.md chapter1.kept
rm out/Chapter-1.md
run_q "an output removed from a trusted shard" 1 plan --check
run_q "plan --explain" 0 plan --explain
check "names it" grep -q -A1 -F "run     Chapter[1]" "$TRASH/.out"
check "as missing" out_has "output missing"
check "and only it (and what depends on it)" out_has "plan: 4 to run, 7 up to date"
run_q "run makes it again (out/ has no copy either)" 0 run --json
is "exactly that one is produced" "$(count_events produced)" 1
check "the same text" cmp -s out/Chapter-1.md chapter1.kept
sleep 1.2
run_q "plan trusts the shards again" 0 plan --check
is "every shard again (the untouched ones kept across the revision)" \
	"$(($(wc -l <.quire/runs/blob-trust) - 2))" "$shards"

# A run stores only the snapshots the plan found missing (trusted shards answer for the rest):
# one removed from a trusted shard is stored again, so the revision can still be rewound to.
d=$(sha256sum prompts/outline.md | cut -c1-64)
blob_rm "$d"
echo "A new line." >>prompts/scene.md
run_q "a run after a snapshot was removed" 0 run
check "stores it again" blob_has "$d"
n=$(sha256sum prompts/scene.md | cut -c1-64)
check "and the changed file's" blob_has "$n"
sleep 1.2
run_q "plan after that run" 0 plan --check

# A packed output removed by hand (sqlite3): every removal from the pack counts, so the
# shards trusted before are checked again.
d=$(digest_of "$(cat .quire/current)" 'Scene[0][1]')
check "removed from the pack" blob_rm "$d"
rm -f out/Scene-0-1.md
run_q "a blob removed from the pack" 1 plan --check
echo "garbage" >.quire/runs/blob-trust
run_q "a damaged trust file is no trust" 1 plan --check
rm .quire/runs/blob-trust
run_q "no trust file: every output checked" 1 plan --check
run_q "run makes it again" 0 run --json
is "exactly that one" "$(count_events produced)" 1
check "stored again" blob_has "$d"
done_testing
