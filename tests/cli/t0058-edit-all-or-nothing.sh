#!/bin/bash
# An edit whose recording fails part way (here: the event log refuses its last event) commits
# nothing: no revision, no half-recorded run for recovery to commit later, inputs.yaml as it
# was, exit 5 with the database's message, and nothing printed as committed.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "a first run" 0 run
sql() { python3 -c 'import sqlite3,sys; db=sqlite3.connect(".quire/quire.db"); r=db.execute(sys.argv[1]).fetchall(); db.commit(); print(" ".join(str(x) for row in r for x in row))' "$1"; }
sql "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.kind='run.end' BEGIN SELECT RAISE(ABORT,'injected failure'); END"
# inputs.yaml as the writer keeps it: private, and a link to the file they share.
mv inputs.yaml story-inputs.yaml
ln -s story-inputs.yaml inputs.yaml
chmod 600 story-inputs.yaml
cp inputs.yaml "$TRASH/inputs.before"
cur=$(cat .quire/current)
run_q "an edit that cannot be recorded fails" 5 edit --set Tone=eerie --set Scenes=1
check "with the database's message" err_has "injected failure"
check "it does not say committed" out_lacks "committed"
is "no revision was made" "$(cat .quire/current)" "$cur"
is "inputs.yaml is as it was" "$(cmp -s inputs.yaml "$TRASH/inputs.before" && echo same)" "same"
is "no run was left for recovery" "$(sql "select count(*) from runs")" "1"
check "inputs.yaml is still the writer's link" test -L inputs.yaml
is "the file keeps its mode" "$(stat -c %a story-inputs.yaml)" 600
sql "DROP TRIGGER refuse"
run_q "the next command recovers nothing" 0 plan --check
is "still the same revision" "$(cat .quire/current)" "$cur"
run_q "the edit made again" 0 edit --set Tone=eerie --set Scenes=1
check "is committed" out_has "committed"
check "with both changes" grep -qx "Tone: eerie" inputs.yaml
check "written through the link" test -L inputs.yaml
check "into the file it names" grep -qx "Tone: eerie" story-inputs.yaml
is "which keeps its mode" "$(stat -c %a story-inputs.yaml)" 600
done_testing
