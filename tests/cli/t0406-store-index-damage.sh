#!/bin/bash
# A format-2 head's index holds rows only: the entries a plan explains or an edit changes
# are read from the head's pack. A node missing from the pack is named as a damaged pack
# (exit 5, how to mend it), whether the entry is read through the index or the revision is
# read whole. A pattern's ids are listed in the revision's order (Draft[2] before Draft[10]),
# with the index or without it.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
"$QUIRE_TEST_UPGRADE" . >/dev/null
is "the upgrade" "$?" 0
run_q "a new take, committed in format 2" 0 run --regenerate 'Scene[0][0]'
check "the head has its index" test -s .quire/runs/$(cat .quire/current)-index.tsv
lose_scene2() { # the node of Scene[2][*] in the head's tree, taken out of every pack
	python3 - "$(cat .quire/current)" .quire/revs/*.objects <<'PY'
import sys, json
objs, packs = {}, {}
for path in sys.argv[2:]:
    b = open(path, "rb").read(); pos = b.index(b"\n") + 1; packs[path] = b
    while pos < len(b):
        nl = b.index(b"\n", pos); h = b[pos:nl].split(); n = int(h[1])
        objs[h[0].decode()] = (b[nl + 1:nl + 1 + n], h[2].decode() if len(h) > 2 else None)
        pos = nl + 2 + n
def get(x):
    d, base = objs[x]
    if not base:
        return d
    bb = get(base); head, mid = d.split(b"\n", 1); pre, suf = map(int, head.split())
    return bb[:pre] + mid + (bb[len(bb) - suf:] if suf else b"")
root = json.loads(get(json.loads(get(sys.argv[1]))["artefacts"][7:]))
scene = json.loads(get(root["items"]["Scene"]["node"][7:]))
want = scene["items"]["2"]["node"][7:].encode()
for path, b in packs.items():
    pos = b.index(b"\n") + 1; out = [b[:pos]]
    while pos < len(b):
        nl = b.index(b"\n", pos); h = b[pos:nl].split(); end = nl + 1 + int(h[1]) + 1
        if h[0] != want:
            out.append(b[pos:end])
        pos = end
    open(path, "wb").write(b"".join(out))
PY
}

# A head git brought in (a pull) has no index here: it is made from the index this clone
# had and the nodes that differ between the two trees, with the rows the commit wrote. The
# node of Scene[2][*], the same in both, is gone from every pack: the head is not read whole.
rm -rf "$TRASH/mine" "$TRASH/theirs" && cp -R . "$TRASH/mine" && cp -R . "$TRASH/theirs"
(cd "$TRASH/theirs" && "$QUIRE" run --regenerate 'Scene[0][1]' >/dev/null) || fail "their run"
h2=$(cat "$TRASH/theirs/.quire/current")
cd "$TRASH/mine"
cp "$TRASH/theirs/.quire/revs/$h2.objects" .quire/revs/ && cp "$TRASH/theirs/.quire/current" .quire/
rm -rf .quire/blobs && cp -R "$TRASH/theirs/.quire/blobs" .quire/
lose_scene2
rm -f .quire/runs/objects.db*
# The newest other index cannot be used (damaged): the next newest, this clone's head's, is.
older=$(ls .quire/revs | sed -n 's/\.objects$//p' | grep -v -e "$h2" | while read -r r; do
	[ -e ".quire/runs/$r-index.tsv" ] || echo "$r"; done | head -1)
check "an older revision without an index" test -n "$older"
printf 'not an index\n' >".quire/runs/$older-index.tsv"
touch -d '+1 minute' ".quire/runs/$older-index.tsv"
QUIRE_MOCK_FAIL='*' run_q "a run after the pull" 0 run --json
is "nothing produced" "$(count_events produced)" 0
is "the head's index, as its commit wrote it" "$(cat .quire/runs/$h2-index.tsv)" \
	"$(cat "$TRASH/theirs/.quire/runs/$h2-index.tsv")"
rm .quire/runs/*-index.tsv
run_q "without an index to start from" 5 run
check "the head is read whole: a damaged pack" err_has "damaged pack"
cd "$OLDPWD"

lose_scene2
rm -f .quire/runs/objects.db*
echo "By hand." >"$TRASH/mine.md"
run_q "an edit of an artefact under the lost node" 5 edit 'Scene[2][0]' --file "$TRASH/mine.md"
check "names a damaged pack" err_has "damaged pack"
check "and how to mend it" err_has "git checkout -- .quire/revs/"
sed -i 's/Tone: warm/Tone: eerie/' inputs.yaml
run_q "a plan that explains the lost entries" 5 plan
check "names a damaged pack" err_has "damaged pack"
sed -i 's/Tone: eerie/Tone: warm/' inputs.yaml

cd "$TRASH" && rm -rf r && cp -R "$QUIRE_SOURCE_ROOT/tests/fixtures/reviewed" r && cd r
sed -i 's/^N: 2/N: 12/' inputs.yaml
run_q "a reviewed project of twelve drafts" 0 run
"$QUIRE_TEST_UPGRADE" . >/dev/null
rm -rf ../noindex && cp -R . ../noindex && rm ../noindex/.quire/runs/*-index.tsv
run_q "approve every draft" 0 edit 'Draft[*]' --approve
mine=$(grep -o 'Draft\[[0-9]*\]' "$TRASH/.out" | tr '\n' ' ')
check "in the revision's order" test "${mine:0:36}" = "Draft[0] Draft[1] Draft[2] Draft[3] "
(cd ../noindex && "$QUIRE" edit 'Draft[*]' --approve >"$TRASH/.out2") || fail "approve without the index"
is "the same order without the index" "$(grep -o 'Draft\[[0-9]*\]' "$TRASH/.out2" | tr '\n' ' ')" "$mine"
done_testing
