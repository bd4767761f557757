#!/bin/bash
# Slips get a suggestion: a misspelt command, option or id names the nearest one; the commands
# people bring from git and make name where quire has them.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
run_q "a misspelt command" 2 pln
check "suggests the command" err_has "'pln' is not a quire command; did you mean 'plan'?"
run_q "make's habit" 2 build
check "says where it is" err_has "try: quire run"
run_q "git's reset" 2 reset
check "says where it is" err_has "try: quire rewind REV"
run_q "a misspelt option" 2 plan --expain
check "suggests the option" err_has "unknown option '--expain' (did you mean '--explain'?)"
run_q "an option without its value" 2 run --max-cost
check "says it needs a value" err_has "--max-cost needs a value"
run_q "a misspelt id to inspect" 3 inspect 'Chaptr[1]'
check "suggests the id" err_has "(did you mean 'Chapter[1]'?)"
run_q "a misspelt id to edit" 3 edit 'Chaptr[1]' --feedback "more"
check "suggests the id" err_has "(did you mean 'Chapter[1]'?)"
run_q "an index out of range" 3 edit 'Chapter[9]' --release
check "does not suggest another chapter" err_lacks "did you mean"
run_q "something far from every name" 2 frobnicate
check "no wild guess" err_lacks "did you mean"
done_testing
