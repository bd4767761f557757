#!/bin/bash
# Commits on a store moved to format 2 (quire-test-upgrade, as the first writer would):
# each revision is one pack, small when little changed; no format-1 manifest is written; the
# head keeps an index of rows and no rendering of its text (the old head's index is removed,
# a lost one is made again, an older quire's is replaced; an edit made from the index commits
# what one made from the whole revision does); two clones' heads merge; a run killed after its revision was named is
# committed as that revision, and one killed before its pack was written is made again from
# its events. QUIRE_FORMAT2_CHECK (set for every test) reads each revision back.
. "$(dirname "$0")/lib.sh"
sql() { python3 -c 'import sqlite3,sys; db=sqlite3.connect(".quire/quire.db"); db.execute(sys.argv[1]); db.commit()' "$1"; }
new_story s
run_q "first run" 0 run
"$QUIRE_TEST_UPGRADE" . >/dev/null
is "the upgrade" "$?" 0
h1=$(cat .quire/current)
full=$(stat -c %s .quire/revs/$h1.objects)

run_q "a new take of one scene" 0 run --regenerate 'Scene[1][0]' --json
check "makes it" out_has '"id":"Scene[1][0]"'
h2=$(cat .quire/current)
check "commits a new revision" test "$h2" != "$h1"
check "as a pack" test -s .quire/revs/$h2.objects
is "and no format-1 manifest" "$(ls .quire/manifests 2>/dev/null | wc -l)" 0
small=$(stat -c %s .quire/revs/$h2.objects)
check "the pack holds what changed, not the whole revision ($small of $full bytes)" \
	test "$small" -lt $((full / 2))
check "the head has an index" test -s .quire/runs/$h2-index.tsv
check "and no rendering of its text (its entries are read from its pack)" test ! -e .quire/runs/$h2.json
is "the index's rows name no byte ranges" "$(head -1 .quire/runs/$h2-index.tsv | cut -f1)" "quire-index 6"
check "the old head's index is gone" test ! -e .quire/runs/$h1-index.tsv
check "the objects' index closed, its journal folded in" test ! -e .quire/runs/objects.db-wal
run_q "plan" 0 plan
check "nothing to do" out_has "plan: nothing to do"
run_q "the log" 0 inspect --log --json
check "lists both, the new one's parent the old" python3 -c '
import json,sys; rows=json.load(open(sys.argv[1]))
assert [r["revision"] for r in rows]==[sys.argv[2],sys.argv[3]] and rows[0]["parent"]==sys.argv[3], rows' \
	"$TRASH/.out" "$h2" "$h1"
run_q "the diff" 0 inspect --diff current~1 current --json
check "names the scene" out_has 'Scene[1][0]'

# The index lost (a clone), then one left by an older quire, with a rendering of the text.
rm .quire/runs/$h2-index.tsv
QUIRE_MOCK_FAIL='*' run_q "a lost index: run" 0 run --json
is "nothing produced" "$(count_events produced)" 0
check "written again" test -s .quire/runs/$h2-index.tsv
"$QUIRE" inspect --revision "$h2" --json >.quire/runs/$h2.json || fail "inspect --revision"
echo stale >.quire/runs/$h2-index.tsv
QUIRE_MOCK_FAIL='*' run_q "an older quire's index and rendering: run" 0 run --json
is "nothing produced" "$(count_events produced)" 0
is "the index written again in rows" "$(head -1 .quire/runs/$h2-index.tsv | cut -f1)" "quire-index 6"
check "the rendering removed" test ! -e .quire/runs/$h2.json
echo "A chapter written by hand." >"$TRASH/mine.md"
# The edit reads the rows of the head's index and the entry it changes; a clone without the
# index reads the revision whole: both commit the same artefacts.
rm -rf "$TRASH/whole" && cp -R . "$TRASH/whole" && rm "$TRASH/whole/.quire/runs/$h2-index.tsv"
run_q "a hand edit" 0 edit 'Chapter[0]' --file "$TRASH/mine.md"
hand=$(stat -c %s .quire/revs/$(cat .quire/current).objects)
check "adds a pack of what it changed ($hand of $full bytes)" test "$hand" -lt $((full / 4))
(cd "$TRASH/whole" && "$QUIRE" edit 'Chapter[0]' --file "$TRASH/mine.md" >/dev/null) || fail "the edit without the index"
"$QUIRE" inspect --revision current --json >"$TRASH/slim.json"
(cd "$TRASH/whole" && "$QUIRE" inspect --revision current --json) >"$TRASH/whole.json"
check "the same artefacts as the edit of the whole revision" python3 -c '
import json,sys
a,b=(json.load(open(f))["artefacts"] for f in sys.argv[1:])
assert a==b and a["Chapter[0]"]["status"]=="user-edited", [k for k in a if a[k]!=b.get(k)]' "$TRASH/slim.json" "$TRASH/whole.json"
run_q "an input changed" 0 edit --set Tone=wry
QUIRE_MOCK_FAIL='*' run_q "plan after the edit" 0 plan --json
h3=$(cat .quire/current)
check "the edit committed a pack" test -s .quire/revs/$h3.objects

# Two clones: each regenerates a scene; git brings the other's pack and head line (not its
# blobs: the next run merges the heads, then makes again the output this store lacks).
run_q "the run after the edit" 0 run
cp -R . "$TRASH/other" && h4=$(cat .quire/current)
(cd "$TRASH/other" && "$QUIRE" run --regenerate 'Scene[2][1]' >/dev/null) || fail "the other clone's run"
run_q "this clone's run" 0 run --regenerate 'Scene[0][1]'
o=$(cat "$TRASH/other/.quire/current")
cp "$TRASH/other/.quire/revs/$o.objects" .quire/revs/
echo "$o" >>.quire/current
run_q "a run with both heads" 0 run --json
run_q "the log" 0 inspect --log --json
check "has their merge, the other clone's head a parent" python3 -c '
import json,sys; rows=json.load(open(sys.argv[1]))
assert [r for r in rows if sys.argv[2] in r.get("parents",[])], rows' "$TRASH/.out" "$o"
run_q "inspect the other clone's scene" 0 inspect 'Scene[2][1]' --takes
check "has its new take" out_has "take 1"

# Killed after current moved, before its row said committed.
m=$(cat .quire/current)
run_q "another take" 0 run --regenerate 'Scene[0][0]'
h5=$(cat .quire/current) packs=$(ls .quire/revs | wc -l)
sql "UPDATE runs SET state='running' WHERE rev='$h5'"
run_q "the next run" 0 run
check "recovers the revision it made" out_has "recovered ${h5:0:12}"
is "no second pack" "$(ls .quire/revs | wc -l)" "$packs"
# Killed after the row learnt the name, before the pack was written.
mv .quire/revs/$h5.objects "$TRASH/h5.objects"
sql "UPDATE runs SET state='running' WHERE rev='$h5'"
printf '%s\n' "$m" >.quire/current
QUIRE_MOCK_FAIL='*' run_q "the next run" 0 run --json
is "no provider called" "$(count_events produced)" 0
check "made again" test "$(cat .quire/current)" != "$m" -a "$(cat .quire/current)" != "$h5"
check "as a revision marked recovered" sh -c "'$QUIRE' inspect --log --json | grep -q '\"recovered\":true'"
check "in a pack of its own" test -s .quire/revs/$(cat .quire/current).objects
run_q "fsck" 0 fsck
check "nothing damaged" out_has "nothing is damaged"

# An index left by a kill between a commit and current's move, and an older quire's
# rendering of another old head: gc removes them.
old=$(cat .quire/current)
cp .quire/runs/$old-index.tsv "$TRASH/"
run_q "one more take" 0 run --regenerate 'Scene[1][1]'
new=$(cat .quire/current)
cp "$TRASH/$old-index.tsv" .quire/runs/
echo '{}' >.quire/runs/$h1.json
run_q "gc" 0 gc
check "removes the old head's index" test ! -e .quire/runs/$old-index.tsv
check "and the older quire's rendering" test ! -e .quire/runs/$h1.json
check "keeps the head's index" test -s .quire/runs/$new-index.tsv
# A diff of two format-2 revisions reads their trees: what it lists is what comparing the
# whole revisions lists, when instances are added across a power of 16 (each index laid out
# anew), changed, reviewed and removed again.
diff_matches() { # A B: 'diff A B --json' against the whole revisions compared here
	"$QUIRE" inspect --revision "$1" --json >"$TRASH/a.json" &&
		"$QUIRE" inspect --revision "$2" --json >"$TRASH/b.json" &&
		"$QUIRE" diff "$1" "$2" --json >"$TRASH/d.json" && python3 - "$TRASH" <<'PY'
import json, sys
t = sys.argv[1]
a, b = (json.load(open("%s/%s.json" % (t, n)))["artefacts"] for n in "ab")
d = json.load(open(t + "/d.json"))["artefacts"]
assert sorted(d["added"]) == sorted(set(b) - set(a)), d["added"]
assert sorted(d["removed"]) == sorted(set(a) - set(b)), d["removed"]
changed = sorted(k for k in set(a) & set(b) if (a[k].get("digest"), a[k].get("status")) !=
                 (b[k].get("digest"), b[k].get("status")))
assert sorted(c["id"] for c in d["changed"]) == changed, (d["changed"], changed)
assert d["added"] or d["removed"] or d["changed"]
PY
}
run_q "17 chapters" 0 edit --set Chapters=17
run_q "made" 0 run
check "a diff across the new layout lists what the revisions do" diff_matches current~2 current
# One artefact of a revision, head or not, is read down its path of the tree: the entry is
# the one the whole revision holds, at every depth and width.
entry_matches() { # REV ID...
	local r=$1 id
	shift
	"$QUIRE" inspect --revision "$r" --json >"$TRASH/w.json" || return 1
	for id in "$@"; do
		"$QUIRE" inspect "$id" --revision "$r" --json >"$TRASH/e.json" || return 1
		python3 - "$TRASH" "$id" <<'PY' || return 1
import json, sys
t, i = sys.argv[1], sys.argv[2]
w = json.load(open(t + "/w.json"))["artefacts"][i]
e = json.load(open(t + "/e.json"))
for k, v in w.items():
    assert e.get(k) == v, (i, k, e.get(k), v)
PY
	done
}
check "an artefact read alone is the whole revision's" entry_matches "$(cat .quire/current)" \
	Outline Book 'Chapter[0]' 'Chapter[15]' 'Chapter[16]' 'Scene[16][1]' 'Scene[2][0]'
run_q "an artefact the revision lacks" 3 inspect 'Chapter[17]'
check "is named" err_has "has no artefact 'Chapter[17]'"
run_q "nor one past a width" 3 inspect 'Scene[300][1]'
run_q "a chapter again" 0 run --regenerate 'Chapter[16]'
check "a diff of one take" diff_matches current~1 current
check "an artefact of a revision that is no longer the head" entry_matches current~1 \
	'Chapter[16]' 'Scene[10][1]' Book
run_q "back to 3" 0 edit --set Chapters=3
run_q "run" 0 run
check "a diff of the removal" diff_matches current~2 current
check "and of revisions far apart, either way" diff_matches current current~3
# A record lost from the packs (a pack damaged by hand or by a bad merge): the revision still
# reads, and fsck names the artefact whose record is missing and how to restore it.
fp=$(entry current Book fingerprint)
cp -r .quire/revs "$TRASH/revs-saved"
drop_object "$fp"
run_q "the revision without the Book's record" 0 inspect Book --json
run_q "fsck" 5 fsck
check "names the artefact and what to do" out_has "the dependency record of Book is missing from .quire/revs/ (a damaged pack: restore them from git, 'git checkout -- .quire/revs/')"
rm -rf .quire/revs && cp -r "$TRASH/revs-saved" .quire/revs
run_q "restored, fsck" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"
done_testing
