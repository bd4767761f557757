#!/bin/bash
# fsck and gc never destroy what they cannot vouch for: a blob fsck cannot read is reported,
# not removed; a database made by a newer quire is not "repaired"; gc does not follow a
# linked blob shard out of the project.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run

# A database from a newer quire.
cp .quire/quire.db db.good
python3 -c 'import sqlite3; c=sqlite3.connect(".quire/quire.db"); c.execute("PRAGMA user_version=99"); c.commit()'
run_q "fsck on a newer quire's database" 5 fsck
check "says to upgrade" out_has "upgrade quire"
run_q "fsck --repair leaves it alone" 5 fsck --repair
check "not moved aside" sh -c '! ls .quire/quire.db.damaged-* 2>/dev/null'
check "still the newer schema" python3 -c '
import sqlite3; assert sqlite3.connect(".quire/quire.db").execute("PRAGMA user_version").fetchone()[0]==99'
cp db.good .quire/quire.db

# gc and a linked shard: refused, and what the link points at is untouched.
mkdir -p "$TRASH/victim" && echo "keep me" >"$TRASH/victim/notes.txt"
mkdir -p .quire/blobs/sha256 # (the story's blobs are all small: packed)
ln -s "$TRASH/victim" .quire/blobs/sha256/zz
run_q "gc with a linked shard" 5 gc
check "names it" err_has "'.quire/blobs/sha256/zz' is not a directory"
check "the link's target is untouched" test -f "$TRASH/victim/notes.txt"
rm .quire/blobs/sha256/zz
# Only blob names are gc's to remove.
d=ab
mkdir -p ".quire/blobs/sha256/$d"
echo "not a blob" >".quire/blobs/sha256/$d/README"
run_q "gc" 0 gc
check "a file that is no blob is left" test -f ".quire/blobs/sha256/$d/README"
rm ".quire/blobs/sha256/$d/README"

# A blob fsck cannot read (as another user) is reported, not removed.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ -z "${QUIRE_WRAPPER:-}" ]; then
	chmod -R a+rwX "$TRASH"
	b=.quire/blobs/pack.db
	chmod 000 "$b"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" "$@"; }
	as_nobody fsck --repair >"$TRASH/.out" 2>"$TRASH/.err"
	is "fsck --repair on an unreadable blob: not repaired (exit 5)" "$?" 5
	check "it says it cannot be read" out_has "cannot be read"
	check "and the blob is still there" test -e "$b"
	chmod 444 "$b"
else
	pass "# SKIP unreadable blob: needs root, setpriv and no valgrind wrapper"
fi
# A database another program holds locked is not damaged: fsck says it could not check it,
# and --repair leaves it alone (it moved the whole journal aside and rebuilt it).
cd "$TRASH" && q init busy >/dev/null && cd busy || exit 1
run_q "a run" 0 run
python3 -c '
import sqlite3,sys,time
c=sqlite3.connect(".quire/quire.db", isolation_level=None)
c.execute("PRAGMA locking_mode=EXCLUSIVE")
c.execute("BEGIN EXCLUSIVE")
c.execute("CREATE TABLE IF NOT EXISTS held(a)")
open("locked","w").close()
time.sleep(12)
c.execute("ROLLBACK")' &
holder=$!
for _ in $(seq 50); do [ -e locked ] && break; sleep 0.1; done
run_q "fsck while another program holds the database" 5 fsck
check "says it could not check it, not that it is damaged" out_has "unreadable database .quire/quire.db"
check "and not damaged" sh -c "! grep -q 'damaged database' '$TRASH/.out'"
run_q "fsck --repair then" 5 fsck --repair
check "moves nothing aside" sh -c "! ls .quire | grep -q damaged"
check "rebuilds nothing" sh -c "! grep -q 'rebuilt' '$TRASH/.out'"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
run_q "fsck once it is free" 0 fsck
done_testing
