#!/bin/bash
# What a writer types in $EDITOR is never lost: when the edit is refused afterwards (a value
# that does not parse, JSON that is not JSON, another quire holding the lock), the text is
# kept in .quire/edits/ and the message names the file and how to use it; an edit that is
# committed leaves nothing behind.
. "$(dirname "$0")/lib.sh"
q init s >/dev/null && cd s || exit 1
run_q "a run" 0 run
editor() { printf '#!/bin/sh\nprintf %%s %q >"$1"\n' "$1" >"$TRASH/editor.sh"; chmod +x "$TRASH/editor.sh"; }
export EDITOR="$TRASH/editor.sh"

editor "three chapters, I think"
run_q "an input edited to something that is not a number" 3 edit Chapters
check "names where the text is" err_has "your text is kept in .quire/edits/"
kept=$(sed -n 's/.*your text is kept in \(\.quire\/edits\/[^ ;]*\).*/\1/p' "$TRASH/.err" | head -1)
check "which holds it" grep -q "three chapters, I think" "$kept"

editor '{"title": "The Keeper", "chapters": ['
run_q "a json artefact edited into broken JSON" 3 edit Outline
check "names where the text is" err_has "your text is kept in .quire/edits/"
kept=$(sed -n 's/.*your text is kept in \(\.quire\/edits\/[^ ;]*\).*/\1/p' "$TRASH/.err" | head -1)
check "which holds it" grep -q '"The Keeper"' "$kept"
check "and says how to take it once mended" err_has "quire edit Outline --file $kept"

editor "A chapter, rewritten by hand."
run_q "an edit that is committed" 0 edit 'Chapter[1]'
check "leaves no copy of the text behind" test "$(ls .quire/edits | wc -l)" -eq 2
check "the edits directory is not committed" grep -qx '.quire/edits/' .gitignore
done_testing
