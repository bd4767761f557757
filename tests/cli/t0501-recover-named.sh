#!/bin/bash
# A run killed after its revision was named (its row knows the name) is committed as that
# revision by the next command, never as a second one; one killed before its pack took the
# name is committed again from its events. Either way current keeps another clone's head.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
r1=$(revfull 1)
# Another clone's lines of history: revisions that bring no new output (a rewind to what is
# shown makes a revision equal to it), so this store has all they name.
cp -R . "$TRASH/other"
other_head() {
	(cd "$TRASH/other" && "$QUIRE" rewind "$r1" --yes >/dev/null) || fail "the other clone's rewind"
	o=$(cat "$TRASH/other/.quire/current")
	cp "$TRASH/other/.quire/revs/$o.objects" .quire/revs/
}
sed -i 's/^Tone: .*/Tone: wry/' inputs.yaml
run_q "second run" 0 run
r2=$(revfull 2)
sql() { python3 -c 'import sqlite3,sys; db=sqlite3.connect(".quire/quire.db"); db.execute(sys.argv[1]); db.commit()' "$1"; }

# Killed after current moved, before its row said committed.
sql "UPDATE runs SET state='running' WHERE rev='$r2'"
run_q "the next run" 0 run
check "recovers the revision it made" out_has "recovered $(rev 2)"
is "no second revision" "$(ls .quire/revs | wc -l)" 2
is "current names it" "$(cat .quire/current)" "$r2"

# Killed after the row learnt the name, before the pack took it; meanwhile git brought
# another clone's head into current.
other_head
other=$o
mv ".quire/revs/$r2.objects" "$TRASH/r2.objects"
printf '%s\n%s\n' "$r1" "$other" >.quire/current
sql "UPDATE runs SET state='running' WHERE rev='$r2'"
QUIRE_MOCK_FAIL='*' run_q "the next run" 0 run --json
is "no provider called" "$(count_events produced)" 0
is "four revisions: the first, the other head, the one made again, their merge" \
	"$(ls .quire/revs | wc -l)" 4
check "the killed run's was made again, the other head kept and merged" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); m=[r for r in d if r.get("parents")]
assert len(m)==1 and sys.argv[2] in m[0]["parents"], d
assert any(r.get("recovered") for r in d), d' <("$QUIRE" inspect --log --json) "$other"

# A project without quire's .gitattributes: git leaves its markers in current. quire reads
# the heads between them, merges, and says how to settle git's conflict.
cur=$(cat .quire/current)
other_head
printf '<<<<<<< HEAD\n%s\n=======\n%s\n>>>>>>> theirs\n' "$cur" "$o" >.quire/current
run_q "a run on a conflicted current" 0 run --json
check "merges and says what to do" grep -q '"event":"warning".*git add .quire/current' "$TRASH/.out"
is "current is one name again" "$(wc -l <.quire/current)" 1

# Two lines of history in a project whose blueprint does not load: rewind, which mends it,
# merges them first without needing the project.
other_head
printf '%s\n' "$o" >>.quire/current
cp blueprint.yaml "$TRASH/blueprint.yaml"
echo 'garbage: [' >>blueprint.yaml
run_q "rewind with a broken blueprint and two heads" 7 rewind "$(rev 1)" --yes
check "refuses to overwrite the writer's change, as with one line" err_has "'blueprint.yaml' has changes"
mv blueprint.yaml "$TRASH/broken.yaml"
run_q "with it moved aside" 0 rewind "$(rev 1)" --yes
check "the blueprint is mended" cmp -s blueprint.yaml "$TRASH/blueprint.yaml"
done_testing
