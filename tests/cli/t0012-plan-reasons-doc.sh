#!/bin/bash
# The dirty reasons are one list: what 'quire plan --help' prints (from the planner's name
# table) is exactly the table in docs/usage.md.
. "$(dirname "$0")/lib.sh"
help=$("$QUIRE" plan --help | sed -n '/^reasons (/,$p' | tail -n +2 |
	sed -E 's/^  (.*[^ ]) {2,}.*$/\1/' | sort)
docs=$(sed -n '/^| reason | meaning |/,/^$/p' "$QUIRE_SOURCE_ROOT/docs/usage.md" |
	grep '^| `' | sed -E 's/^\| `([^`]*)`.*/\1/' | sort)
check "plan --help lists reasons" test -n "$help"
is "docs/usage.md lists exactly the reasons plan --help does" "$docs" "$help"
is "21 reasons" "$(echo "$help" | wc -l)" 21
done_testing
