#!/bin/bash
# Takes: run --regenerate makes a new take although nothing changed; earlier takes stay in the
# store and can be selected again, and what depends on them follows (from the cache).
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
cp out/Chapter-1.md take0.md
cp out/Book.md book0.md
run_q "regenerate a chapter" 0 run --regenerate 'Chapter[1]' --json
is "a new take and what depends on it" "$(event_ids produced)" "Book Chapter[1] Scene[1][0] Scene[1][1]"
check "the new take differs" sh -c '! cmp -s take0.md out/Chapter-1.md'
run_q "takes are listed" 0 inspect 'Chapter[1]' --takes
check "take 0" out_has "Chapter[1] take 0"
check "take 1 is shown" sh -c "grep 'take 1' '$TRASH/.out' | grep -q '(shown)'"
run_q "plan is clean after a take" 0 plan --check
run_q "select take 0 again" 0 edit 'Chapter[1]' --take 0
check "out/ has take 0 again" cmp -s take0.md out/Chapter-1.md
run_q "dependants follow" 0 run --json
is "nothing is generated" "$(count_events produced)" 0
is "they come from the cache" "$(event_ids cached)" "Book Scene[1][0] Scene[1][1]"
check "the book is the first book" cmp -s book0.md out/Book.md
run_q "an unknown take" 3 edit 'Chapter[1]' --take 7
check "says so" err_has "Chapter[1] has no take 7"
run_q "regenerating a pattern that matches nothing" 3 run --regenerate 'Chaptr[1]'
done_testing
