#!/bin/bash
# A collector over hundreds of upstream outputs (read on two threads before its prompt is
# rendered) gets exactly their contents, in order; one changed upstream changes just its part.
. "$(dirname "$0")/lib.sh"
new_story s
sed -i 's/^Chapters: 3/Chapters: 20/; s/^Scenes: 2/Scenes: 15/' inputs.yaml
run_q "first run, 300 scenes" 0 run -j 2
expect_book() {
	python3 - "$@" <<'PY'
import sys
title = "The Lighthouse Keeper's Letters"
scenes = [open("out/Scene-%d-%d.md" % (i, j)).read() for i in range(20) for j in range(15)]
want = "# %s\n\n%s\n" % (title, "\n\n* * *\n\n".join(scenes))
got = open("out/Book.md").read()
if got != want:
    sys.exit("Book.md differs from its scenes joined (%d vs %d bytes)" % (len(got), len(want)))
PY
}
check "the book joins every scene, in order" expect_book
echo "Add a storm." >>prompts/scene.md
sed -i 's/^Scenes: 15/Scenes: 14/' inputs.yaml
run_q "fewer scenes, another scene prompt" 0 run -j 2 --json
is "every scene made again, and the book" "$(count_events produced)" 281
sed -i 's/^Scenes: 14/Scenes: 15/' inputs.yaml
git_free_restore() { sed -i '$ d' prompts/scene.md; }
git_free_restore
run_q "back as it was" 0 run -j 2 --json
is "all from the action cache" "$(count_events cached)" 301
check "the same book again" expect_book
done_testing
