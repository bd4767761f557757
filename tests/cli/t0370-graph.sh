#!/bin/bash
# quire graph: the instance graph (or the blueprint's) as DOT that Graphviz renders, or JSON,
# coloured by state; inspect --used-by; out/ files accepted as targets.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "graph before any run" 0 graph
check "a digraph" out_has "digraph quire {"
check "an edge from the outline to a chapter" out_has '"Outline" -> "Chapter[0]";'
check "every instance would run: orange" test "$(grep -c 'fillcolor="#ffd89b"' "$TRASH/.out")" -eq 11
check "the reason is the tooltip" out_has 'tooltip="new"'
cp "$TRASH/.out" "$TRASH/graph.dot"
check "Graphviz renders it" dot -Tsvg "$TRASH/graph.dot" -o "$TRASH/graph.svg"
check "an SVG with every instance" test "$(grep -c '<g id="node' "$TRASH/graph.svg")" -eq 11

run_q "a run" 0 run
run_q "graph after it" 0 graph
check "everything up to date: green" test "$(grep -c 'fillcolor="#cdebcd"' "$TRASH/.out")" -eq 11
QUIRE_MOCK_FAIL='Scene[1][0]' run_q "a run where a scene fails" 1 run --regenerate 'Scene[1][0]'
run_q "graph" 0 graph
check "the failed scene is red" grep -q '"Scene\[1\]\[0\]" \[fillcolor="#f4b6b6"' "$TRASH/.out"

run_q "graph --json" 0 graph --json
check "nodes and edges" python3 -c '
import json,sys; g=json.load(open(sys.argv[1]))
ids=[n["id"] for n in g["nodes"]]
assert g["graph"]=="instances" and len(ids)==11 and ids[0]=="Outline" and ids[-1]=="Book", ids
assert ["Chapter[2]","Scene[2][1]"] in g["edges"], g["edges"]' "$TRASH/.out"
run_q "graph of one target" 0 graph --json 'Chapter[1]'
check "it and what it depends on" python3 -c '
import json,sys; g=json.load(open(sys.argv[1]))
assert sorted(n["id"] for n in g["nodes"])==["Chapter[1]","Outline"], g' "$TRASH/.out"
run_q "an out/ file as the target" 0 graph --json out/Chapter-1.md
check "is the same instance" python3 -c '
import json,sys; g=json.load(open(sys.argv[1]))
assert sorted(n["id"] for n in g["nodes"])==["Chapter[1]","Outline"], g' "$TRASH/.out"
run_q "graph --blueprint" 0 graph --blueprint
check "inputs as ellipses" grep -q '"Premise" \[fillcolor="#fff7cc", shape=ellipse' "$TRASH/.out"
check "producers linked" out_has '"Chapter" -> "Scene";'
cp "$TRASH/.out" "$TRASH/bp.dot"
check "Graphviz renders it too" dot -Tsvg "$TRASH/bp.dot" -o "$TRASH/bp.svg"
run_q "--blueprint takes no targets" 2 graph --blueprint 'Chapter[1]'

run_q "inspect --used-by" 0 inspect 'Chapter[0]' --used-by
check "names the scenes that use it" out_has "  Scene[0][0]"
check "and says there is more downstream" out_has "more downstream"
run_q "inspect --used-by --json" 0 inspect 'Chapter[0]' --used-by --json
check "direct and downstream" python3 -c '
import json,sys; u=json.load(open(sys.argv[1]))
assert u["used_by"]==["Scene[0][0]","Scene[0][1]"] and "Book" in u["downstream"], u' "$TRASH/.out"
run_q "inspect Book --used-by" 0 inspect Book --used-by
check "nothing uses the book" out_has "Book: nothing uses it"
run_q "an instance the blueprint lacks" 2 inspect 'Chapter[9]' --used-by

run_q "plan takes an out/ file" 0 plan out/Book.md
run_q "and ./out/ too" 0 plan ./out/Scene-1-0.md
check "the failed scene would run" out_has "Scene[1][0]"
run_q "an out/ file no instance has" 3 plan out/Epilogue.md
check "says so" err_has "'out/Epilogue.md' is not the out/ file of any instance"
done_testing
