#!/bin/bash
# Fan-out counts: growing adds exactly the new instances; shrinking removes instances and files.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
sed -i 's/^Scenes: 2/Scenes: 3/' inputs.yaml
run_q "plan after Scenes 2 -> 3" 0 plan --json
check "3 new scenes and the book" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
ids=sorted(i["id"] for i in d["instances"])
assert ids==["Book","Scene[0][2]","Scene[1][2]","Scene[2][2]"], ids' "$TRASH/.out"
run_q "run after growing" 0 run --json
is "4 produced" "$(event_ids produced)" "Book Scene[0][2] Scene[1][2] Scene[2][2]"
check "the new scene is in out/" test -f out/Scene-2-2.md
before=$(stat -c %Y.%s out/Chapter-0.md)
sed -i 's/^Scenes: 3/Scenes: 1/' inputs.yaml
run_q "plan after Scenes 3 -> 1" 0 plan
check "removals are listed" out_has "remove  Scene[1][2]"
run_q "run after shrinking" 0 run
check "6 removed" out_has "6 removed"
check "removed scenes left out/" sh -c 'test ! -e out/Scene-0-1.md && test ! -e out/Scene-2-2.md'
check "kept scenes stay" test -f out/Scene-2-0.md
is "unchanged files were not rewritten" "$(stat -c %Y.%s out/Chapter-0.md)" "$before"
run_q "inspect lists what remains" 0 inspect --json
check "3 scenes remain in the manifest" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert sorted(k for k in d["artefacts"] if k.startswith("Scene"))==["Scene[0][0]","Scene[1][0]","Scene[2][0]"]' "$TRASH/.out"
sed -i 's/^Chapters: 3/Chapters: 1/' inputs.yaml
run_q "shrinking chapters" 0 run
check "chapter 2 is gone" test ! -e out/Chapter-2.md
run_q "up to date afterwards" 0 plan --check
done_testing
