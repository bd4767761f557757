#!/bin/bash
# A refused edit changes nothing and claims nothing: under another writer's lock (exit 4) or on
# a damaged database (exit 5), inputs.yaml and prompts stay as they were and no "edit:" line
# says otherwise.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
cp inputs.yaml inputs.before
cp prompts/chapter.md chapter.before
echo "Longer prose." >mine.md

# flock runs sleep as a child holding the lock: both are killed afterwards.
setsid flock .quire/lock sleep 30 &
holder=$!
for _ in $(seq 50); do flock -n .quire/lock true 2>/dev/null || break; sleep 0.1; done
run_q "edit --set under another writer's lock" 4 edit --set Tone=wry
check "inputs.yaml is unchanged" cmp -s inputs.yaml inputs.before
check "no edit line claims a change" out_lacks "edit:"
run_q "edit ID --file under the lock" 4 edit 'Chapter[0]' --file mine.md
check "no 'replaced by hand' line" out_lacks "replaced by hand"
quire_export=$("$QUIRE" inspect --export ex.yaml >/dev/null 2>&1; echo $?)
is "export works under the lock (a reader)" "$quire_export" 0
sed -i 's/^  Tone: .*/  Tone: eerie/' ex.yaml
run_q "edit --from under the lock" 4 edit --from ex.yaml
check "inputs.yaml is unchanged" cmp -s inputs.yaml inputs.before
check "the prompt is unchanged" cmp -s prompts/chapter.md chapter.before
kill -- -"$holder" 2>/dev/null || kill "$holder"
wait "$holder" 2>/dev/null

cp .quire/quire.db quire.db.good
printf 'this is not a database at all, it is a file of text long enough to be read' >.quire/quire.db
rm -f .quire/quire.db-wal .quire/quire.db-shm
run_q "edit --set on a damaged database" 5 edit --set Tone=wry
check "inputs.yaml is unchanged" cmp -s inputs.yaml inputs.before
check "no edit line claims a change" out_lacks "edit:"
cp quire.db.good .quire/quire.db

run_q "with the lock free, the edit goes through" 0 edit --set Tone=wry
check "and says so" out_has "edit: Tone = \"wry\""
check "inputs.yaml changed" sh -c '! cmp -s inputs.yaml inputs.before'
done_testing
