#!/bin/bash
# One artefact's provenance, a diff, a rewind's preview and the log's counts read the
# revisions' indexes and parse only the entries they show: what they print is exactly what reading the whole
# manifests prints (checked by hiding the indexes, which sends them the long way).
. "$(dirname "$0")/lib.sh"
q init s >/dev/null && cd s || exit 1
run_q "a first run" 0 run
run_q "another tone" 0 edit --set Tone=eerie
run_q "run it" 0 run
run_q "a second take of a chapter" 0 run --regenerate 'Chapter[1]'
echo "By hand." >"$TRASH/hand.md"
run_q "a hand edit" 0 edit 'Scene[0][0]' --file "$TRASH/hand.md"
run_q "and a run" 0 run

views() {
	for c in "inspect Chapter[1] --json" "inspect Chapter[1]" "inspect Chapter[1] --takes" \
		"inspect Chapter[1] --prompt" "inspect Scene[0][0] --revision $(rev 2) --json" \
		"show $(rev 3) Chapter[1]" "inspect --diff $(rev 1) $(rev 6) --json" \
		"diff $(rev 2) $(rev 4)" "inspect --diff $(rev 4) $(rev 5)" \
		"rewind $(rev 1) --preview --json" "rewind $(rev 3) --preview" \
		"inspect Scene[*][0] --json" "log --json" "inspect --log"; do
		# shellcheck disable=SC2086
		echo "== $c" && "$QUIRE" $c 2>&1
	done
}
check "the indexes are there to read" test -s .quire/runs/$(revfull 6)-index.tsv
views >"$TRASH/by-index"
mkdir "$TRASH/hidden" && mv .quire/runs/*-index.tsv "$TRASH/hidden/"
views >"$TRASH/whole"
check "every view prints the same" diff -u "$TRASH/whole" "$TRASH/by-index"
check "and printed something (the check above is not empty)" test "$(grep -c . "$TRASH/whole")" -gt 100
check "a diff read by index names what changed" grep -q '"id":"Chapter\[1\]"' "$TRASH/by-index"
# A revision whose inputs take more than the 1 MiB the head is read from: read whole, not
# taken for a head without its files (the log dropped it; the preview missed a file).
cd "$TRASH" && q init big >/dev/null && cd big || exit 1
python3 -c '
import re
t=open("inputs.yaml").read()
open("inputs.yaml","w").write(re.sub(r"(?m)^Premise: .*$", "Premise: " + "x" * 1100000, t))'
run_q "a run with a 1.1 MB premise" 0 run
echo "Close on a quiet note." >>prompts/book.md
run_q "a prompt changed, run again" 0 run
run_q "log --json" 0 log --json
check "lists both revisions" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [r["revision"] for r in d]==["'"$(revfull 1)"'","'"$(revfull 2)"'"] or [r["revision"] for r in d]==["'"$(revfull 2)"'","'"$(revfull 1)"'"], d' "$TRASH/.out"
run_q "rewind --preview --json" 0 rewind $(rev 1) --preview --json
check "names the prompt to restore" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["files"]==["prompts/book.md"], d["files"]' "$TRASH/.out"
done_testing
