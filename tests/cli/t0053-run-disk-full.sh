#!/bin/bash
# A disk that fills during a run: every instance reported as produced is in the event log, the
# error says the disk is full (exit 5), and once space is freed nothing reported is generated
# (paid for) again. Twice: with too little room for quire's 4 MiB reserve, and with room for it
# (then the run stops starting jobs and still records the ones in flight).
# Needs a small tmpfs: mounted in a private mount namespace (unshare) or directly as root.
if [ -z "${QUIRE_IN_NS:-}" ]; then
	if unshare --user --map-root-user --mount true 2>/dev/null; then
		QUIRE_IN_NS=1 exec unshare --user --map-root-user --mount bash "$0" "$@"
	elif [ "$(id -u)" -eq 0 ] && unshare --mount true 2>/dev/null; then
		QUIRE_IN_NS=1 exec unshare --mount bash "$0" "$@"
	fi
	echo "1..0 # SKIP cannot mount a tmpfs here (no mount namespace)"
	exit 0
fi
. "$(dirname "$0")/lib.sh"

# scenario NAME FREE_KIB
scenario() {
	cd "$TRASH" || exit 1
	mkdir "$1"
	mount -t tmpfs -o size=16m tmpfs "$1" || { echo "Bail out! mount failed"; exit 1; }
	cd "$1" && new_story s
	sed -i 's/^Chapters: .*/Chapters: 20/; s/^Scenes: .*/Scenes: 20/' inputs.yaml
	local avail
	avail=$(df --output=avail -k . | tail -1)
	fallocate -l $(((avail - $2) * 1024)) ../filler
	# Its output goes outside the full disk.
	QUIRE_MOCK_LATENCY_MS=2 "$QUIRE" run -j 4 --json >"$TRASH/$1.out" 2>"$TRASH/$1.err"
	is "$1: a run on a full disk exits 5" "$?" 5
	check "$1: it says the disk is full" grep -q "disk is full" "$TRASH/$1.err"
	cp "$TRASH/$1.out" "$TRASH/.out"
	reported=$(event_ids produced)
	local nrep
	nrep=$(echo "$reported" | wc -w)
	check "$1: it produced some before the disk filled ($nrep)" test "$nrep" -gt 0
	check "$1: and not everything" test "$nrep" -lt 422
	local recorded missing
	recorded=$(python3 -c '
import sqlite3
db = sqlite3.connect(".quire/quire.db")
print(" ".join(sorted(r[0] for r in db.execute(
    "select subject from events where kind=\"artefact.produced\""))))')
	missing=$(comm -23 <(echo "$reported" | tr " " "\n" | sort) <(echo "$recorded" | tr " " "\n" | sort))
	is "$1: every instance reported as produced is in the event log" "$missing" ""
	local failed frec
	failed=$(event_ids failed)
	frec=$(python3 -c '
import sqlite3
db = sqlite3.connect(".quire/quire.db")
print(" ".join(sorted(r[0] for r in db.execute(
    "select subject from events where kind=\"artefact.failed\""))))')
	missing=$(comm -23 <(echo "$failed" | tr " " "\n" | sort) <(echo "$frec" | tr " " "\n" | sort))
	is "$1: every instance reported as failed is in the event log" "$missing" ""

	rm -f ../filler
	run_q "$1: with space again, the next run completes" 0 run -j 4 --json
	local again redone
	again=$(event_ids produced)
	redone=$(comm -12 <(echo "$reported" | tr " " "\n" | sort) <(echo "$again" | tr " " "\n" | sort))
	is "$1: nothing reported as produced is generated again" "$redone" ""
	run_q "$1: up to date" 0 plan --check
	cd "$TRASH" && umount "$1"
}

scenario no-reserve 3072
# 1 MiB above the reserve: a mock step writes little (its provider answers in memory), and
# with 3 MiB the whole run of 422 could fit before the reserve was reached.
scenario reserve 5120
check "with the reserve, the run stopped starting jobs and recorded the rest" \
	grep -q "started nothing new and recorded every job that finished" "$TRASH/reserve.err"
cp "$TRASH/reserve.out" "$TRASH/.out"
unfinished=$(comm -23 <(event_ids start | tr " " "\n" | sort) \
	<(echo "$(event_ids produced) $(event_ids failed)" | tr " " "\n" | sort))
is "with the reserve, every job started was finished and reported (none thrown away)" \
	"$unfinished" ""
done_testing
