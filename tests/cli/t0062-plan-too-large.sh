#!/bin/bash
# A fan-out too large for the memory there is: a clear error naming the producer (exit 3),
# never an abort, for plan and run alike, and nothing changes.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
state=$(store_state)
sed -i 's/max: 500 }/max: 100000 }/' blueprint.yaml
sed -i 's/^Chapters: .*/Chapters: 7000/; s/^Scenes: .*/Scenes: 7000/' inputs.yaml
# 2 GiB of address space, so the answer does not depend on this machine's memory.
limited() { (ulimit -v 2097152 && "$QUIRE" "$@") >"$TRASH/.out" 2>"$TRASH/.err"; }
limited plan
is "plan: exit 3, not an abort" "$?" 3
check "names the producer and the size" err_has "producer 'Scene' alone has 49000000"
check "says it is memory" err_has "MiB of memory"
limited run
is "run: exit 3, not an abort" "$?" 3
check "the same message" err_has "producer 'Scene' alone has 49000000"
is "nothing changed" "$(store_state)" "$state"
done_testing
