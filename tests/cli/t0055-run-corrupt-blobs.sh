#!/bin/bash
# Damaged blobs are never used: a run that would read one for a prompt, for a provider's input
# or for out/ stops with exit 5 naming the artefact; quire fsck finds them and --repair drops
# them, after which the next run makes exactly those again. A damaged quire.db is named with
# the way out, and fsck --repair rebuilds it from the committed revisions.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run

digest_of() { python3 -c '
import json,sys; m=json.load(open("'"$(current_json)"'"))
print(m["artefacts"][sys.argv[1]]["digest"][7:])' "$1"; }
blob() { digest_of "$1"; }
# damage DIGEST: same length, other bytes (packed or a file).
damage() { blob_flip "$1"; }

run_q "fsck on a sound store" 0 fsck
check "says nothing is damaged" out_has "nothing is damaged"

# out/: a corrupt blob is never written into out/.
damage "$(blob 'Scene[0][0]')"
rm out/Scene-0-0.md
run_q "restoring out/ from a corrupt blob fails" 5 run
check "names the artefact" err_has "the stored output of 'Scene[0][0]' is damaged"
check "says what to do" err_has "quire fsck --repair"
check "nothing damaged was written to out/" test ! -e out/Scene-0-0.md
check "'nothing to do' is not claimed" out_lacks "nothing to do"

# A prompt: the Book joins the scenes; a change that re-renders it reads the damaged scene.
echo "Bound in red." >>prompts/book.md
run_q "a run rendering the damaged scene into a prompt fails" 5 run --json
check "names the artefact" err_has "the stored output of 'Scene[0][0]' is damaged"
is "the Book was not produced" "$(event_ids produced)" ""
run_q "plan still has the Book to make" 1 plan --check

run_q "fsck finds the damage" 5 fsck
check "names the blob and who uses it" grep -qE "Scene\[0\]\[0\] in [0-9a-f]{12}" "$TRASH/.out"
check "suggests --repair" out_has "quire fsck --repair"
run_q "fsck --repair" 0 fsck --repair
check "says it was repaired" out_has "corrupt blob (repaired)"
run_q "fsck afterwards" 0 fsck
run_q "the next run" 0 run --json
is "makes exactly the damaged scene and the book" "$(event_ids produced)" "Book Scene[0][0]"
check "out/ has the scene again" test -s out/Scene-0-0.md

# The outline feeds every chapter's prompt by field.
damage "$(blob Outline)"
echo "More." >>prompts/chapter.md
run_q "a damaged outline stops the run" 5 run
check "naming it, not a missing field" err_has "the stored output of 'Outline' is damaged"
check "no 'does not exist' misreport" err_lacks "does not exist"
run_q "fsck --repair" 0 fsck --repair
run_q "the next run completes" 0 run
run_q "up to date" 0 plan --check

# A provider's input file: exec reads its inputs itself, never through quire's render.
cat >>quire.yaml <<'YAML'
  cat:
    provider: exec
    params: { argv: [cat, "{inputs}"] }
YAML
cat >>blueprint.yaml <<'YAML'
  Bundle:
    role: cat
    uses: ["Chapter[*]"]
    output: { type: text, ext: md }
YAML
run_q "a collector that cats its inputs" 0 run --json
is "makes the bundle" "$(event_ids produced)" "Bundle"
damage "$(blob 'Chapter[1]')"
sed -i 's/params: { argv: \[cat, "{inputs}"\] }/params: { argv: [cat, "--", "{inputs}"] }/' quire.yaml
run_q "a provider is never given a damaged input" 5 run --json
check "names the artefact" err_has "the stored output of 'Chapter[1]' is damaged"
is "the bundle was not produced" "$(event_ids produced)" ""
run_q "fsck --repair" 0 fsck --repair
run_q "the next run" 0 run --json
is "takes the chapter back from its intact copy in out/ and makes only the bundle" \
	"$(event_ids produced)" "Bundle"
run_q "fsck after that" 0 fsck
check "the chapter's blob is whole again" out_has "nothing is damaged"
# A damaged database: named with the way out, then rebuilt from the revisions.
printf 'this is not a database, only a file of text that is long enough' >.quire/quire.db
rm -f .quire/quire.db-wal .quire/quire.db-shm
run_q "a run on a damaged database" 5 run
check "says the database is damaged and how to mend it" \
	err_has ".quire/quire.db is damaged: 'quire fsck --repair' rebuilds it"
run_q "fsck names the damaged database" 5 fsck
check "damaged database" out_has "damaged database"
run_q "fsck --repair rebuilds it" 0 fsck --repair
check "keeps the damaged one" sh -c 'ls .quire/quire.db.damaged-* >/dev/null'
run_q "plan afterwards: nothing to do" 0 plan --check
echo "Even more." >>prompts/chapter.md
run_q "a run after the rebuild" 0 run --json
sed -i '$d' prompts/chapter.md
run_q "going back costs nothing: the rebuilt action cache has it" 0 run --json
is "nothing produced" "$(count_events produced)" 0
check "restored from the cache" test "$(count_events cached)" -ge 1
# A damaged revision (its pack): fsck lists it, with how to get it back; a plan that needs
# it (its head's local rendering gone, as in a fresh clone) names it the same way.
cur=$(cat .quire/current)
cp ".quire/revs/$cur.objects" pack.good
python3 - ".quire/revs/$cur.objects" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
i = b.index(b'"type":"revision"')
b[i + 9] = ord("R")
open(p, "wb").write(bytes(b))
PY
run_q "fsck lists it" 5 fsck
check "as a damaged revision" out_has "damaged revision $cur"
check "saying how to restore it" out_has "git checkout -- .quire/revs/"
rm -f .quire/runs/$cur.json .quire/runs/$cur-index.tsv
run_q "plan on a damaged current revision" 5 plan
check "names it and how to restore it" err_has "git checkout -- .quire/revs/"
run_q "fsck --repair does not touch it" 5 fsck --repair
check "says what is left" out_has "left (see above)"
cp pack.good ".quire/revs/$cur.objects"
run_q "restored, everything works again" 0 plan --check
done_testing
