#!/bin/bash
# A store made by quire 0.1 (manifest format 1, tests/fixtures/store-v1) keeps working with
# this build: nothing to do, no provider call, its history, takes and hand edit intact, and
# rewind and fsck work on it. Its first writer moves it to format 2 (the upgrade path's test:
# upgrading must never re-bill, DESIGN.md §11).
. "$(dirname "$0")/lib.sh"
cp -r "$FIXTURES/store-v1" s && cd s || exit 1
chmod -R u+w .
state=$(store_state)
run_q "plan on the 0.1 store" 0 plan --check
run_q "fsck on the 0.1 store" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"
# Any provider call would fail: the mock is told to fail every instance.
QUIRE_MOCK_FAIL='*' run_q "run: nothing to do, no provider called" 0 run --json
is "nothing produced" "$(count_events produced)" 0
is "nothing failed" "$(count_events failed)" 0
check "the summary says so" out_has '"revision":null'
# That run (the first writer) moved the history to format 2, before reading it.
is "the store is in format 2" "$(cat .quire/format)" 2
is "its seven revisions are packs" "$(ls .quire/revs | wc -l)" 7
is "no format-1 manifest is left" "$(ls .quire/manifests | wc -l)" 0
run_q "the history is all there" 0 inspect --log --json
check "seven revisions, each found by its old name" python3 -c '
import json,os,subprocess,sys; rows=json.load(open(sys.argv[1]))
assert len(rows)==7, rows
for n,r in zip(range(7,0,-1),rows):
    m=json.loads(subprocess.check_output([os.environ["QUIRE"],"inspect","--revision","rev-%04d" % n,"--json"]))
    assert m["revision"]==r["revision"], (n,r)' "$TRASH/.out"
run_q "the hand-edited chapter" 0 inspect 'Chapter[2]'
check "is user-edited" out_has "user-edited"
run_q "the regenerated scene's takes" 0 inspect 'Scene[0][0]' --takes
check "has two takes" out_has "take 1"
run_q "rewind to before the hand edit and the input change" 0 rewind $(rev 4) --yes
check "restores the input" grep -q "^Tone: warm" inputs.yaml
QUIRE_MOCK_FAIL='*' run_q "and a run after the rewind calls no provider" 0 run --json
is "nothing produced" "$(count_events produced)" 0
# Its records name the outline whole (before field-level fingerprints): an outline written
# otherwise with the same values re-runs nothing, and renaming one chapter re-runs that
# chapter and what depends on it, read from the outline those records name.
cp out/Outline.json ../original.json
python3 - <<'EOF'
import json
o = json.load(open("out/Outline.json"))
open("../same.json", "w").write(json.dumps(o, indent=7))
o["chapters"][1]["title"] = "Renamed"
json.dump(o, open("../renamed.json", "w"))
EOF
run_q "the outline reformatted by hand" 0 edit Outline --file ../same.json
run_q "plan" 0 plan
check "nothing to do" out_has "plan: nothing to do"
run_q "one chapter renamed" 0 edit Outline --file ../renamed.json
run_q "plan --explain" 0 plan --explain --json
check "that chapter, its scenes and the book" python3 -c '
import json,sys
inst={i["id"]:i for i in json.load(open(sys.argv[1]))["instances"] if i["dirty"]}
assert sorted(inst)==["Book","Chapter[1]","Scene[1][0]","Scene[1][1]"], sorted(inst)
assert inst["Chapter[1]"]["reasons"]==["upstream field changed: Outline.chapters[1].title"], inst' "$TRASH/.out"
run_q "run it" 0 run --json
is "four made" "$(event_ids produced)" "Book Chapter[1] Scene[1][0] Scene[1][1]"
# Back to the outline as it was: what was made from it then is in the action cache under the
# records of before field-level ones, and is taken from there.
run_q "the outline put back as it was" 0 edit Outline --file ../original.json
QUIRE_MOCK_FAIL='*' run_q "run: no provider called" 0 run --json
is "nothing produced" "$(count_events produced)" 0
is "the four taken from the cache" "$(event_ids cached)" "Book Chapter[1] Scene[1][0] Scene[1][1]"
done_testing
