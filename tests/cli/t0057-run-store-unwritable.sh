#!/bin/bash
# Outputs that cannot be stored (the blob store is not writable): each is a failed instance,
# billed, the run starts nothing new and exits 5 naming the cause, every line it printed is in
# the event log, and once the store is writable again nothing it recorded runs twice.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -eq 0 ]; then
	if ! command -v setpriv >/dev/null || [ -n "${QUIRE_WRAPPER:-}" ]; then
		echo "1..0 # SKIP root without setpriv: a read-only directory does not stop root"
		exit 0
	fi
	qq() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" "$@"; }
else
	qq() { "$QUIRE" "$@"; }
fi
new_story s
sed -i 's/^Chapters: .*/Chapters: 6/' inputs.yaml
run_q "a first run" 0 run
chmod -R a+rwX "$TRASH"
chmod -R a-w .quire/blobs
# New takes: the project's files are stored already, the new outputs are not.
QUIRE_MOCK_LATENCY_MS=5 qq run -j 3 --json --regenerate 'Scene[*][*]' >"$TRASH/.out" 2>"$TRASH/.err"
is "a run whose outputs cannot be stored exits 5" "$?" 5
check "it says an output could not be stored" err_has "an output could not be stored"
check "and that it started nothing new" err_has "started nothing new"
nfail=$(count_events failed)
check "the instances that ran are failed ($nfail)" test "$nfail" -gt 0
check "each failure says why" out_has "its output could not be stored"
check "not every instance was started" test "$(count_events start)" -lt 13
recorded=$(python3 -c '
import sqlite3
db = sqlite3.connect(".quire/quire.db")
print(" ".join(sorted(r[0] for r in db.execute(
    "select subject from events where kind=\"artefact.failed\""))))')
is "every failure printed is in the event log" "$recorded" "$(event_ids failed)"
chmod -R u+w .quire/blobs
chmod -R a+rwX "$TRASH"
qq run --json >"$TRASH/.out" 2>"$TRASH/.err"
is "with the store writable again the run completes" "$?" 0
# Without --regenerate the failed instances take back their earlier take (paid already).
is "what failed is resolved again" "$(($(count_events produced) + $(count_events cached)))" "$nfail"
qq plan --check >/dev/null 2>&1
is "and the project is up to date" "$?" 0
done_testing
