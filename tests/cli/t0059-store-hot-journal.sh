#!/bin/bash
# A writer killed inside a transaction leaves a hot journal, which only a writable connection
# may roll back: read-only commands (plan, fsck, status) must still work, must not call the
# database damaged, and must not keep the transaction's half.
. "$(dirname "$0")/lib.sh"
# kill_mid_transaction SQL: runs SQL in a transaction and dies before committing, with pages
# already written to the database file (a one-page cache spills at once).
kill_mid_transaction() {
	python3 - "$1" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(".quire/quire.db", isolation_level=None)
db.execute("pragma journal_mode=delete")
db.execute("pragma cache_size=1")
db.execute("begin immediate")
db.execute("create table if not exists filler(x)")
for i in range(2000):
    db.execute("insert into filler values(?)", ("x" * 200,))
db.execute(sys.argv[1])
os._exit(0)
PY
}
new_story s
mkdir -p .quire
kill_mid_transaction "select 1"
check "the first writer left a hot journal" test -s .quire/quire.db-journal
run_q "fsck on a database whose creation was cut short" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"
run_q "plan works" 1 plan --check
run_q "and the first run" 0 run
run_q "and leaves it up to date" 0 plan --check

kill_mid_transaction "insert into events(run, time_ns, kind) values(1, 1, 'half.done')"
check "a hot journal again, in a database in use" test -s .quire/quire.db-journal
run_q "plan works" 0 plan --check
run_q "fsck finds nothing damaged" 0 fsck
run_q "status works" 0 status
half=$(python3 -c 'import sqlite3; print(sqlite3.connect(".quire/quire.db").execute("select count(*) from events where kind=\"half.done\"").fetchone()[0])')
is "the half-done transaction was rolled back" "$half" 0
run_q "a run after it" 0 run
done_testing
