#!/bin/bash
# Earlier instances: a chapter reads the rolling summary of the chapters before it
# (StorySoFar[i-1]), comic pages the page before (Page[p-1]); {{#if}} guards the first; plans
# interleave producers so each instance runs after what it reads; a loop among instances is
# refused with its path; every earlier chapter can be read at once (Chapter[<i]).
. "$(dirname "$0")/lib.sh"
q init s >/dev/null && cd s || exit 1
# Echo: a text output is its rendered prompt, so what a chapter was told can be read back.
sed -i 's/    model: mock-writer/    params: { mode: echo }/' quire.yaml
run_q "plan the bundled story" 0 plan
check "a summary after each chapter, before the next chapter" \
	sh -c "grep -A2 '  run     Chapter\[0\]' '$TRASH/.out' | grep -q 'StorySoFar\[0\]' &&
		grep -A1 'StorySoFar\[0\]' '$TRASH/.out' | grep -q 'Chapter\[1\]'"
check "14 instances" out_has "plan: 14 to run, 0 up to date"
run_q "run it" 0 run --json
line_of() { grep -n "\"event\":\"$1\",\"id\":\"$2\"" "$TRASH/.out" | head -1 | cut -d: -f1; }
check "Chapter[1] starts after StorySoFar[0] is produced" \
	test "$(line_of produced 'StorySoFar\[0\]')" -lt "$(line_of start 'Chapter\[1\]')"
check "StorySoFar[1] starts after StorySoFar[0] and Chapter[1]" \
	test "$(line_of produced 'Chapter\[1\]')" -lt "$(line_of start 'StorySoFar\[1\]')"
check "the first chapter has no story so far, and no blank lines left for it" \
	sh -c '! grep -q "story so far" out/Chapter-0.md && [ -z "$(sed -n 3p out/Chapter-0.md)" ] &&
		sed -n 4p out/Chapter-0.md | grep -q "^Write chapter 1,"'
check "the second chapter was told the story so far" grep -q "^The story so far:" out/Chapter-1.md
check "which is the first summary" grep -q "Summarise the story up to the end of chapter 1 " out/Chapter-1.md
check "the third chapter's summary rolls on from the second" \
	grep -q "Summarise the story up to the end of chapter 2 " out/StorySoFar-2.md
check "the first summary has no story so far before it" sh -c '! grep -q "story so far" out/StorySoFar-0.md'

# A hand edit of chapter 2 reaches chapter 3 through the summaries, and nothing before it.
printf 'Chapter two, rewritten by hand.\n' >../c1.md
run_q "hand edit Chapter[1]" 0 edit 'Chapter[1]' --file ../c1.md
run_q "run after it" 0 run --json
is "its summary, the chapters after it, their scenes and the book re-ran" "$(event_ids produced)" \
	"Book Chapter[2] Scene[1][0] Scene[1][1] Scene[2][0] Scene[2][1] StorySoFar[1] StorySoFar[2]"
check "the next chapter read the edit" grep -q "Chapter two, rewritten by hand." out/Chapter-2.md

# The blueprint graph shows the loop among producers as uses of earlier instances.
run_q "graph --blueprint" 0 graph --blueprint
check "the chapter reads the summary before it, dashed and labelled" \
	out_has '"StorySoFar" -> "Chapter" [style=dashed, label="[i-1]"];'
check "the summary reads itself the same way" \
	out_has '"StorySoFar" -> "StorySoFar" [style=dashed, label="[i-1]"];'
check "a plain use stays plain" out_has '"Chapter" -> "StorySoFar";'
cp "$TRASH/.out" ../bp.dot
check "Graphviz draws it" dot -Tsvg ../bp.dot -o ../bp.svg

# Every earlier chapter at once, joined like a collector.
cat >>blueprint.yaml <<'EOF'

  Recap:
    foreach: { i: Chapters }
    role: assemble
    prompt: prompts/recap.md
    uses:
      - Chapter[<i]
    output: { type: text, ext: md }
EOF
printf '{{#if Chapter[<i]}}Before chapter {{i+1}}: {{Chapter[<i] | join " / "}}{{else}}Nothing yet.{{/if}}\n' >prompts/recap.md
run_q "a producer reading every earlier chapter" 0 run --json
is "the recaps alone ran" "$(event_ids produced)" "Recap[0] Recap[1] Recap[2]"
is "the first has nothing before it" "$(cat out/Recap-0.md)" "Nothing yet."
check "the third reads the first two, in order" \
	sh -c 'grep -q "^Before chapter 3: Story premise: " out/Recap-2.md && grep -q "/ Chapter two, rewritten by hand." out/Recap-2.md'
run_q "inspect names its upstreams" 0 inspect 'Recap[2]' --json
check "Chapter[0] and Chapter[1], not Chapter[2]" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); up=[u[0] for u in d["deps"]["upstream"]]
assert up==["Chapter[0]","Chapter[1]"], up' "$TRASH/.out"

# A prompt that grows with the story is checked against the role's context before a call.
# Room for the second recap's prompt (echo: its output is its prompt), not the third's.
room=$((($(stat -c %s out/Recap-1.md) + 3) / 4))
test $((($(stat -c %s out/Recap-2.md) + 3) / 4)) -gt "$room" || echo "Bail out! the recaps are too alike"
sed -i "s/^  assemble:$/  assemble:\n    context_tokens: $room/" quire.yaml
run_q "recaps again, in a context with room for the second" 1 run --regenerate 'Recap[*]' --json
is "the short ones are made" "$(event_ids produced)" "Recap[0] Recap[1]"
check "the long one is refused before anything is sent, with its size and the limit" python3 -c '
import json,sys,re
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="failed" and e["id"]=="Recap[2]":
        m=e["message"]
        assert re.search(r"Recap\[2\]: its prompt is about \d+ tokens \(\d+ bytes, counted at 4 bytes a token\), more than role .assemble. has room for \(context_tokens: %s\); nothing was sent" % sys.argv[2], m), m
        sys.exit(0)
sys.exit(1)' "$TRASH/.out" "$room"
sed -i "/^    context_tokens: $room$/d" quire.yaml
run_q "with room again" 0 run --json
is "it is back, from the action cache (its earlier take)" "$(event_ids cached)" "Recap[2]"
sed -i 's/^  assemble:$/  assemble:\n    context_tokens: 0/' quire.yaml
run_q "a context of 0 tokens is a mistake" 3 plan
check "positioned" err_has "quire.yaml:"
check "and explained" err_has "context_tokens must be an integer from 1 to 100000000"
sed -i '/^    context_tokens: 0$/d' quire.yaml

# A loop through an earlier use that the blueprint cannot see: each Gather reads every
# chapter, each chapter the Gather before it.
cp blueprint.yaml blueprint.good
cat >>blueprint.yaml <<'EOF'

  Gather:
    foreach: { i: Chapters }
    role: assemble
    uses:
      - Chapter[*]
EOF
sed -i 's/      - StorySoFar\[i-1\]               # the story/      - Gather[i-1]\n      - StorySoFar[i-1]               # the story/' blueprint.yaml
before=$(store_state)
run_q "a loop among instances" 3 plan
check "is refused with its path, positioned at the producer" \
	err_has "blueprint.yaml:22:3: dependency cycle: Chapter[1] -> Gather[0] -> Chapter[1]"
run_q "run refuses it too" 3 run
is "and changes nothing" "$(store_state)" "$before"
cp blueprint.good blueprint.yaml
sed -i 's/      - StorySoFar\[i-1\]               # the story/      - Chapter[i]\n      - StorySoFar[i-1]               # the story/' blueprint.yaml
run_q "a chapter that reads itself" 3 plan
check "is a cycle among producers" err_has "dependency cycle: Chapter -> Chapter"
cp blueprint.good blueprint.yaml
run_q "restored, nothing to do" 0 plan
check "nothing" out_has "plan: nothing to do, 17 up to date"
cd ..

# The comic: each page is planned from the one before.
q init c --blueprint comic >/dev/null && cd c || exit 1
run_q "plan the comic" 0 plan --json
check "Page[1] after Page[0]" python3 -c '
import json,sys
ids=[i["id"] for i in json.load(open(sys.argv[1]))["instances"]]
assert ids.index("Page[0]") < ids.index("Page[1]"), ids' "$TRASH/.out"
run_q "run the comic (narration waits for review)" 0 run
run_q "inspect Page[1]" 0 inspect 'Page[1]' --json
check "reads Page[0]" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); up=[u[0] for u in d["deps"]["upstream"]]
assert up==["Page[0]"], up' "$TRASH/.out"
done_testing
