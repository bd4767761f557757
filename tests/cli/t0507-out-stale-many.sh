#!/bin/bash
# out/ files holding outputs that only the action cache accounts for (an older revision's, not
# the current one's nor its parent's): many of them at once, past the few asked of the store
# one by one, are still known as quire's and rewritten, and a writer's file among them is
# still refused.
. "$(dirname "$0")/lib.sh"
new_scenes_book p 20
echo "Count: 20" >inputs.yaml
printf '{{Scene[*] | join "\\n"}}\n' >prompts/book.md
run_q "a first build" 0 run
cp -R out "$TRASH/first"
for round in 2 3; do
	for i in $(seq 0 19); do echo "scene $i, round $round" >prompts/scene-$i.md; done
	run_q "every scene again (round $round)" 0 run
done
cp "$TRASH"/first/Scene-*.md out/
run_q "out/ holding the first build's scenes" 0 run
check "says it rewrote them" out_has "out/: 20 restored"
for i in 0 9 19; do
	is "Scene-$i.md holds the current output again" \
		"sha256:$(sha256sum out/Scene-$i.md | cut -d' ' -f1)" "$(entry current "Scene[$i]" digest)"
done
cp "$TRASH"/first/Scene-*.md out/
echo "A writer's line." >out/Scene-12.md
run_q "with a writer's file among them" 7 run
check "names it" err_has "out/Scene-12.md"
check "keeps it" grep -qx "A writer's line." out/Scene-12.md
done_testing
