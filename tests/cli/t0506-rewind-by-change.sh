#!/bin/bash
# A rewind records only what differs from the current revision: one artefact.restored event
# per artefact whose entry differs (a collector's large record as a delta of the one it
# replaces, a removed instance as null), the inputs and the files that differ; the revision
# is the one rewound to, entry for entry, out/ and the prompts are restored, and the preview
# lists the same. Without the head's index, or killed and recovered, the events are folded
# onto the parent read whole, to the same result. A file the rewind would overwrite is
# hashed, whatever the stat cache says.
. "$(dirname "$0")/lib.sh"
new_scenes_book p 300
echo "Count: 300" >inputs.yaml
echo "scene 300" >prompts/scene-300.md
printf '{{Scene[*] | join "\\n---\\n"}}\n' >prompts/book.md
# The last run's events (a rewind is a run of its own): "kind subject bytes" per line.
events() {
	python3 - <<'PY'
import sqlite3
db = sqlite3.connect(".quire/quire.db")
run = db.execute("SELECT max(run) FROM events").fetchone()[0]
for k, s, n in db.execute("SELECT kind, subject, length(data) FROM events WHERE run = ? ORDER BY seq", (run,)):
    print(k, s or "-", n or 0)
PY
}
# The last run's revision.restored event's data, key $1, as JSON.
restored() {
	python3 - "$1" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(".quire/quire.db")
run = db.execute("SELECT max(run) FROM events").fetchone()[0]
d = db.execute("SELECT data FROM events WHERE run = ? AND kind = 'revision.restored'", (run,)).fetchone()[0]
print(json.dumps(json.loads(d).get(sys.argv[1]), sort_keys=True))
PY
}
# Revision N's artefacts, whole entries, as one line of JSON.
arts() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["artefacts"],sort_keys=True))' "$(revjson "$1")"; }
# As if the last rewind were killed once its events were stored, before its revision was
# written: its pack and index gone, current back on its parent $1, its run still running.
unwrite_last() {
	local killed
	killed=$(cat .quire/current)
	rm -f ".quire/revs/$killed.objects" ".quire/runs/$killed-index.tsv"
	echo "$1" >.quire/current
	sqlite3 .quire/quire.db "UPDATE runs SET state = 'running', finished_ns = NULL,
		rev = '$(printf '0%.0s' $(seq 64))' WHERE id = (SELECT max(id) FROM runs)"
}
digest_of() { python3 -c 'import hashlib,sys; print("sha256:"+hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

run_q "a first build" 0 run
cp out/Scene-7.md scene7.built
echo "scene 7, darker" >prompts/scene-7.md
run_q "one scene changed" 0 run
check "makes it and the Book" out_has "2 produced"
run_q "the preview" 0 rewind current~1 --preview
check "lists the two artefacts" out_has "artefacts to change     2: Book Scene[7]"
check "and the one file" out_has "files to restore        1: prompts/scene-7.md"
run_q "rewinding the change" 0 rewind current~1 --yes
events >ev.txt
is "one event per artefact that differs" "$(awk '{print $1, $2}' ev.txt | tr '\n' ' ')" \
	"run.start - revision.restored - artefact.restored Book artefact.restored Scene[7] run.end - "
check "the Book's record is a delta, not its 300 names" test "$(awk '{print $3}' ev.txt | sort -n | tail -1)" -lt 4000
check "not whole" test -z "$(restored artefacts | grep -v '^null$')"
is "the files that differ" "$(restored files_changed)" "{\"prompts/scene-7.md\": \"$(digest_of prompts/scene-7.md)\"}"
is "the revision's artefacts are the build's, entry for entry" "$(arts 3)" "$(arts 1)"
check "out/ as built" cmp out/Scene-7.md scene7.built
check "the prompt as built" grep -qx "scene 7" prompts/scene-7.md
run_q "nothing to make" 0 plan --check
run_q "fsck" 0 fsck

# Killed once its events were stored, before its revision was written: the next command
# commits it from them, onto its parent read whole, to the same revision.
unwrite_last "$(revfull 2)"
run_q "the next command" 0 run
check "commits the rewind" out_has "recovered $(cat .quire/current | cut -c1-12), committed from a run"
is "its artefacts are the build's, entry for entry" "$(arts 3)" "$(arts 1)"
is "its files too" "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["files"], sort_keys=True))' "$(revjson 3)")" \
	"$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["files"], sort_keys=True))' "$(revjson 1)")"
run_q "fsck after the recovery" 0 fsck

run_q "one more scene" 0 edit --set Count=301
run_q "made" 0 run
check "out/ has it" test -f out/Scene-300.md
run_q "rewinding past it" 0 rewind $(rev 3) --yes
events >ev.txt
check "the removed instance is null" grep -qx "artefact.restored Scene\[300\] 0" ev.txt
is "the revision's artefacts are those rewound to" "$(arts 6)" "$(arts 3)"
check "its out/ file is gone" test ! -e out/Scene-300.md
check "inputs.yaml as it was" grep -qx "Count: 300" inputs.yaml
run_q "nothing to make after it" 0 plan --check

# Without the head's index (a pulled head before its first run), the edit reads the current
# revision whole and folds the same events onto it.
rm -f .quire/runs/*-index.tsv
run_q "rewinding back without an index" 0 rewind $(rev 5) --yes
is "the revision is the one rewound to" "$(arts 7)" "$(arts 5)"
check "out/ has the scene again" test -f out/Scene-300.md
run_q "nothing to make" 0 plan --check

# A hand edit keeps the Book's record (same fingerprint): undoing it records a delta of that
# record against itself, not the record again.
echo "By hand." >hand.md
run_q "the Book edited by hand" 0 edit Book --file hand.md
run_q "and undone" 0 rewind current~1 --yes
events >ev.txt
check "the Book's event is small" test "$(awk '$1 == "artefact.restored" {print $3}' ev.txt)" -lt 4000
run_q "nothing to make" 0 plan --check

# An edit that keeps the file's size and time (cp -p, touch -r) is not what the stat cache
# recorded: a file the rewind would overwrite is hashed, and the rewind refuses.
echo "scene a" >prompts/scene-2.md
sleep 2.5 # the stat cache keeps only what is over 2 s older than the look
run_q "a prompt changed and run" 0 run
was=$(stat -c %y prompts/scene-2.md)
echo "scene b" >prompts/scene-2.md
touch -d "$was" prompts/scene-2.md
run_q "rewinding over an edit that kept size and time" 7 rewind current~1 --yes
check "is refused, naming the file" err_has "'prompts/scene-2.md' has changes"
check "the writer's text is there" grep -qx "scene b" prompts/scene-2.md
echo "scene 2" >prompts/scene-2.md
run_q "the writer's edit put back, and run" 0 run

# Takes a Book keeps but does not show carry their records: a rewind gives each as a delta
# of the current Book's record too, not its 300 names again.
run_q "a second take of the Book" 0 run --regenerate Book
run_q "and a third" 0 run --regenerate Book
before=$(cat .quire/current)
echo "scene 9, brighter" >prompts/scene-9.md
run_q "one more scene changed" 0 run
run_q "rewinding it" 0 rewind current~1 --yes
check "to the revision before it, entry for entry" out_has "(equal to ${before:0:12})"
events >ev.txt
check "the Book's event is small with its takes" \
	test "$(awk '$1 == "artefact.restored" && $2 == "Book" {print $3}' ev.txt)" -lt 4000
run_q "nothing to make" 0 plan --check
run_q "the Book's takes as they were" 0 inspect Book --takes
check "all three" out_has "take 2"
# Killed once those events were stored: recovery makes each take's record from its delta.
unwrite_last "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parent"])' "$(current_json)")"
run_q "the next command" 0 run
check "commits the rewind" out_has "recovered $(cut -c1-12 .quire/current), committed from a run"
arts_of() { "$QUIRE" inspect --revision "$1" --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["artefacts"],sort_keys=True))'; }
is "its artefacts are those rewound to, takes and records" "$(arts_of "$(cat .quire/current)")" "$(arts_of "$before")"
run_q "fsck at the end" 0 fsck
done_testing
