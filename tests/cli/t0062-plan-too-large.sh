#!/bin/bash
# A fan-out too large for the memory there is: a clear error naming the producer (exit 3),
# never an abort, for plan and run alike, and nothing changes.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
state=$(store_state)
sed -i 's/max: 500 }/max: 100000 }/' blueprint.yaml
sed -i 's/^Chapters: .*/Chapters: 7000/; s/^Scenes: .*/Scenes: 7000/' inputs.yaml
# 2 GiB, so the answer does not depend on this machine's memory (QUIRE_MEMORY_LIMIT, not
# ulimit -v: a sanitizer build cannot start under an address-space limit).
limited() { QUIRE_MEMORY_LIMIT=2G "$QUIRE" "$@" >"$TRASH/.out" 2>"$TRASH/.err"; }
limited plan
is "plan: exit 3, not an abort" "$?" 3
check "names the producer and the size" err_has "producer 'Scene' alone has 49000000"
check "says it is memory" err_has "MiB of memory"
limited run
is "run: exit 3, not an abort" "$?" 3
check "the same message" err_has "producer 'Scene' alone has 49000000"
is "nothing changed" "$(store_state)" "$state"
QUIRE_MEMORY_LIMIT=1.5G "$QUIRE" plan >"$TRASH/.out" 2>"$TRASH/.err"
is "a limit written 1.5G" "$?" 3
check "is 1536 MiB" err_has "about 1536 MiB are available"
QUIRE_MEMORY_LIMIT=lots "$QUIRE" plan >"$TRASH/.out" 2>"$TRASH/.err"
is "a limit that is not a size: exit 3" "$?" 3
check "says so and how to write one" err_has "QUIRE_MEMORY_LIMIT='lots' is not a size"
QUIRE_MEMORY_LIMIT=2X "$QUIRE" plan >"$TRASH/.out" 2>"$TRASH/.err"
is "an unknown unit is refused too (not taken as bytes)" "$?" 3
is "nothing changed" "$(store_state)" "$state"
# An address-space limit as well, where the binary can start under one (not with ASan, not
# under valgrind).
if [ -z "${QUIRE_WRAPPER:-}" ] && ! ldd "$QUIRE" 2>/dev/null | grep -q libasan; then
	(ulimit -v 2097152 && "$QUIRE" plan) >"$TRASH/.out" 2>"$TRASH/.err"
	is "under an address-space limit (ulimit -v) too" "$?" 3
fi
done_testing
