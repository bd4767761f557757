#!/bin/bash
# A run row without its start event (a kill between the two used to leave one) must not brick
# the project: the next writer abandons it and goes on; run, edit and rewind all work.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
python3 - <<'PY'
import sqlite3
db = sqlite3.connect(".quire/quire.db")
db.execute("INSERT INTO runs(rev,parent,command,started_ns,state) "
           "VALUES('rev-0002','rev-0001','quire run',1,'running')")
db.commit()
PY
sed -i 's/^Tone: .*/Tone: wry/' inputs.yaml
run_q "run after a start-less run row" 0 run --json
check "it committed a new revision, the second" \
	grep -q '"revision":"'"$(revfull 2)"'"' "$TRASH/.out"
is "the abandoned run is marked so" \
	"$(python3 -c 'import sqlite3; print(sqlite3.connect(".quire/quire.db").execute("select state from runs where rev=\"rev-0002\"").fetchone()[0])')" \
	abandoned
run_q "a second run has nothing to do" 0 run
check "and says so" out_has "nothing to do"
is "no run.recovered events piled up" \
	"$(python3 -c 'import sqlite3; print(sqlite3.connect(".quire/quire.db").execute("select count(*) from events where kind=\"run.recovered\"").fetchone()[0])')" \
	0

# The same for edit and rewind.
python3 - <<'PY'
import sqlite3
db = sqlite3.connect(".quire/quire.db")
db.execute("INSERT INTO runs(rev,parent,command,started_ns,state) "
           "VALUES('rev-0009','rev-0003','quire edit',1,'running')")
db.commit()
PY
run_q "edit after a start-less run row" 0 edit --set Tone=eerie
check "edit committed" out_has "edit: committed $(rev 3)"
python3 - <<'PY'
import sqlite3
db = sqlite3.connect(".quire/quire.db")
db.execute("INSERT INTO runs(rev,parent,command,started_ns,state) "
           "VALUES('rev-0011','rev-0010','quire rewind',1,'running')")
db.commit()
PY
run_q "rewind after a start-less run row" 0 rewind $(rev 1) --yes
done_testing
