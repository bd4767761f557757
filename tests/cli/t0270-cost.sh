#!/bin/bash
# Costs: a price table per role; each artefact's cost recorded and summed per revision; an
# estimate before anything runs, and --max-cost refusing a run that would exceed it.
. "$(dirname "$0")/lib.sh"
new_story s
sed -i 's/^    model: mock-writer$/    model: mock-writer\n    price: { per_call: 0.002, input_per_mtok: 0.15, output_per_mtok: 0.6, estimate_tokens_out: 800 }/' quire.yaml
run_q "plan shows the estimate before anything is spent" 0 plan
check "the total" out_has "cost: estimated "
check "a floor while outputs it reads are not generated" out_has "cost: estimated at least "
check "per role: the writer's ten instances, nine of which read what is not made yet" \
	grep -qE '^  writer    at least [0-9]+\.[0-9]{6} for 10 \(9 unknown: what they read is not generated yet\)$' "$TRASH/.out"
check "the unpriced role says so" out_has "  assemble  not priced (no 'price' in quire.yaml) for 1"
check "and what the estimate cannot know" out_has "known only"
run_q "plan --json carries it" 0 plan --json
check "total and roles, the total their sum" python3 -c '
import json,sys; e=json.load(open(sys.argv[1]))["estimate"]
r=e["roles"]
assert e["priced"] and r["writer"]["instances"]==10 and r["assemble"]=={"instances":1,"estimate_micro":0,"priced":False,"unknown":0}, e
assert r["writer"]["unknown"]==9 and e["unknown"]==9, e
assert e["total_micro"]==r["writer"]["estimate_micro"]>=10*2000, e' "$TRASH/.out"
run_q "run --dry-run --json carries it too" 0 run --dry-run --json
check "the same estimate" python3 -c '
import json,sys; e=json.loads(open(sys.argv[1]).readline())["estimate"]
assert e["roles"]["writer"]["instances"]==10, e' "$TRASH/.out"
run_q "a run over the limit is refused" 6 run --max-cost 0.01
check "the estimate and the limit are named" err_has "exceeds --max-cost 0.010000; nothing was generated"
check "no revision was made" test ! -e .quire/current
run_q "a bad amount is a usage error" 2 run --max-cost lots
run_q "a dry run over the limit exits as the run would" 6 run --dry-run --max-cost 0.01
check "with the same message" err_has "exceeds --max-cost 0.010000; nothing was generated"
check "and the estimate" out_has "cost: estimated "
run_q "a dry run within the limit" 0 run --dry-run --max-cost 1
run_q "within the limit it runs" 0 run --max-cost 1 --json
check "the summary carries cost and estimate" python3 -c '
import json,sys; s=[json.loads(l) for l in open(sys.argv[1])][-1]
assert s["event"]=="summary" and s["cost_micro"]>0 and s["estimate_micro"]>0, s' "$TRASH/.out"
check "the revision sums its artefacts' costs" python3 -c '
import json; m=json.load(open("'"$(revjson 1)"'"))
costs=[a.get("cost_micro",0) for a in m["artefacts"].values()]
assert m["counts"]["cost_micro"]==sum(costs)
# the writer is priced: 10 artefacts at least the per-call 0.002; the echo assembler is free
assert sum(1 for c in costs if c>=2000)==10 and m["artefacts"]["Book"].get("cost_micro") is None, costs'
run_q "inspect shows an artefact's cost" 0 inspect 'Chapter[0]'
check "cost line" out_has "cost:        0.00"
run_q "nothing to do costs nothing" 0 run --max-cost 0 --json
check "zero estimate when up to date" out_has '"estimate_micro":0'
# With what they read generated, the estimate counts it: a scene's prompt holds its chapter
# and the outline.
echo "Be brief." >>prompts/scene.md
run_q "after a change to the scene prompt" 0 plan --json
check "the scenes' estimate is known and counts what they read" python3 -c '
import json,os,sys; e=json.load(open(sys.argv[1]))["estimate"]
w=e["roles"]["writer"]; assert w["instances"]==6 and w["unknown"]==0 and e["unknown"]==0, e
size=os.path.getsize
# two scenes per chapter, each reading its own chapter
want=sum(2*(2000+480+(size("prompts/scene.md")+size("out/Chapter-%d.md" % i)
                      +size("out/Outline.json"))//4*15//100) for i in range(3))
assert w["estimate_micro"] >= want-6, (w, want)' "$TRASH/.out"
run_q "the text says it without 'at least'" 0 plan
check "a plain estimate" grep -qE '^  writer    [0-9]+\.[0-9]{6} for 6$' "$TRASH/.out"
done_testing
