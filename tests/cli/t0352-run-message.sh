#!/bin/bash
# run -m TEXT: a revision's message, shown by log (its first line) and show (whole), never
# inherited by the next revision; a run without one keeps its revision as it was.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "a run with a message" 0 run -m "First draft of the lighthouse story"
run_q "log" 0 log
check "shows the message under the revision" out_has "      First draft of the lighthouse story"
check "the revision keeps it" grep -q '"message":"First draft of the lighthouse story"' $(revjson 1)

sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
run_q "a run without one" 0 run
check "its revision has no message" test -z "$(grep '"message"' $(revjson 2))"
run_q "log --json" 0 log --json
check "the newer says how it was made, the older keeps its message" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [r["message"] for r in d]==["quire run","First draft of the lighthouse story"], d' "$TRASH/.out"

sed -i 's/^Tone: wry/Tone: eerie/' inputs.yaml
run_q "a message of several lines" 0 run --message "$(printf 'Eerier\n\nThe editor asked for it.')"
run_q "log shows its first line" 0 log -n 1
check "Eerier" out_has "      Eerier"
check "and not the rest" out_lacks "The editor asked"
run_q "show shows all of it" 0 show
check "the whole message" out_has "The editor asked for it."
run_q "an empty message is refused" 2 run -m ""
run_q "so is one that is not UTF-8" 2 run -m "$(printf 'caf\xe9')"
check "saying what a message must be" err_has "1 to 4096 bytes of UTF-8 text"
run_q "-m without a message" 2 run -m
run_q "run --help tells of -m" 0 run --help
check "it does" out_has "-m, --message TEXT"
done_testing
