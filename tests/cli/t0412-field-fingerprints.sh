#!/bin/bash
# Field-level fingerprints: an instance's record names the JSON fields its templates read
# from an upstream output (Outline.chapters[1].title), not the whole output. Renaming one
# chapter in the outline re-runs that chapter and what depends on it, nothing else, whether
# the outline is edited by hand or regenerated in the same run (early cutoff); the same
# values written differently re-run nothing; `plan --explain` names the field. On the mock
# and on the openai provider (the fake server, counting its calls).
. "$(dirname "$0")/lib.sh"
q init s >/dev/null && cd s || exit 1
# The outline comes from a file by the exec provider, so a test can say what it holds; the
# chapters and scenes stay on the mock, which is given nothing but the prompt.
cat >>quire.yaml <<'EOF'
  planner:
    provider: exec
    params: { argv: [cat, outline-src.json] }
EOF
python3 - <<'EOF'
import re
b = open("blueprint.yaml").read()
b = re.sub(r"(  Outline:\n    role: )writer", r"\1planner", b)
open("blueprint.yaml", "w").write(b)
EOF
cat >outline-src.json <<'EOF'
{"chapters": [
  {"title": "The Voice", "summary": "A voice calls from the salt marsh."},
  {"title": "The Lantern", "summary": "A lantern is lit in the tower."},
  {"title": "The Candle", "summary": "The candle burns down at last."}]}
EOF
run_q "run the story" 0 run --json
is "every instance made" "$(count_events produced)" 14

# The outline regenerated with one chapter renamed: the chapters and scenes whose fields
# are the same are cut off when the new outline is in, in the same run.
sed -i 's/The Candle/The Last Candle/' outline-src.json
run_q "regenerate the outline with chapter 3 renamed" 0 run --regenerate Outline --json
is "made: the outline, that chapter and what depends on it" "$(event_ids produced)" \
	"Book Chapter[2] Outline Scene[2][0] Scene[2][1] StorySoFar[2]"
is "the other chapters, summaries and scenes unchanged" "$(event_ids unchanged)" \
	"Chapter[0] Chapter[1] Scene[0][0] Scene[0][1] Scene[1][0] Scene[1][1] StorySoFar[0] StorySoFar[1]"
check "chapter 3's prompt has its new title" grep -q '"The Last Candle"' \
	"$(q inspect 'Chapter[2]' --prompt >../p.txt && echo ../p.txt)"

# A hand edit of the outline renaming chapter 2.
python3 - <<'EOF'
import json
o = json.load(open("out/Outline.json"))
o["chapters"][1]["title"] = "The Lantern Renamed"
json.dump(o, open("../renamed.json", "w"), indent=1)
EOF
run_q "rename chapter 2 in the outline by hand" 0 edit Outline --file ../renamed.json
run_q "plan --explain" 0 plan --explain --json
check "exactly chapter 2 and what depends on it" python3 -c '
import json,sys
ids=sorted(i["id"] for i in json.load(open(sys.argv[1]))["instances"] if i["dirty"])
want=sorted(["Chapter[1]","StorySoFar[1]","Chapter[2]","StorySoFar[2]","Scene[1][0]",
             "Scene[1][1]","Scene[2][0]","Scene[2][1]","Book"])
assert ids==want, ids' "$TRASH/.out"
check "the field that changed is named" python3 -c '
import json,sys
inst={i["id"]:i for i in json.load(open(sys.argv[1]))["instances"]}
assert inst["Chapter[1]"]["reasons"]==["upstream field changed: Outline.chapters[1].title"], inst["Chapter[1]"]' "$TRASH/.out"
run_q "plan --explain (text)" 0 plan --explain 'Chapter[1]'
check "says it the same way" out_has "upstream field changed: Outline.chapters[1].title"
run_q "run it" 0 run --json
is "nine made" "$(count_events produced)" 9
check "chapter 1 was not" sh -c "! grep -q '\"id\":\"Chapter\[0\]\"' '$TRASH/.out'"

# The same values written otherwise (indented, keys reordered): other bytes, same fields.
python3 - <<'EOF'
import json
o = json.load(open("out/Outline.json"))
o["chapters"] = [dict(reversed(list(c.items()))) for c in o["chapters"]]
open("../reformatted.json", "w").write(json.dumps(o, indent=8))
EOF
run_q "the outline reformatted by hand" 0 edit Outline --file ../reformatted.json
run_q "plan" 0 plan
check "nothing to do" out_has "plan: nothing to do"

# The record says what it read.
run_q "inspect --json Chapter[1]" 0 inspect 'Chapter[1]' --json
check "its record names the fields, and the outline is not among the whole upstreams" \
	python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))["deps"]
assert sorted(d["fields"])==["Outline.chapters[1].summary","Outline.chapters[1].title"], d
assert all(u[0]!="Outline" for u in d["upstream"]), d["upstream"]' "$TRASH/.out"

# A field holding a real number has one spelling per value, so it can be told apart.
python3 - <<'EOF'
import json
s = open("schemas/outline.json").read()
s = s.replace('"summary": { "type": "string" }',
              '"summary": { "type": "string" }, "mood": { "type": "number" }')
assert '"mood"' in s
open("schemas/outline.json", "w").write(s)
o = json.load(open("out/Outline.json"))
for c, m in zip(o["chapters"], [0.5, 0.25, 1.5]):
    c["mood"] = m
json.dump(o, open("../moods.json", "w"))
o["chapters"][1]["mood"] = 0.75
json.dump(o, open("../moods2.json", "w"))
EOF
echo 'Mood: {{Outline.chapters[i].mood}}' >>prompts/chapter.md
run_q "chapters that read a number" 0 edit Outline --file ../moods.json
run_q "run them" 0 run
check "the mood is in the prompt" sh -c "'$QUIRE' inspect 'Chapter[1]' --prompt | grep -qx 'Mood: 0.25'"
run_q "one chapter's mood changed" 0 edit Outline --file ../moods2.json
run_q "plan --explain" 0 plan --explain --json
check "that chapter, for that field" python3 -c '
import json,sys
inst={i["id"]:i for i in json.load(open(sys.argv[1]))["instances"] if i["dirty"]}
assert "Chapter[0]" not in inst and "Scene[0][0]" not in inst, sorted(inst)
assert inst["Chapter[1]"]["reasons"]==["upstream field changed: Outline.chapters[1].mood"], inst' "$TRASH/.out"
run_q "run it" 0 run
check "the new mood is in the prompt" sh -c "'$QUIRE' inspect 'Chapter[1]' --prompt | grep -qx 'Mood: 0.75'"

# exec is given the upstream files themselves: what it reads is not known, so they count
# whole.
cat >>quire.yaml <<'EOF'
  tool:
    provider: exec
    params: { argv: [cat, "{prompt_file}"] }
EOF
sed -i '/^  Chapter:/,/^  StorySoFar:/s/    role: writer/    role: tool/' blueprint.yaml
run_q "chapters on exec" 0 run
run_q "inspect --json Chapter[1] on exec" 0 inspect 'Chapter[1]' --json
check "names the outline whole" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))["deps"]
assert "fields" not in d and any(u[0]=="Outline" for u in d["upstream"]), d' "$TRASH/.out"
# The same on the openai provider (the fake server: every answer is the same text, so what
# follows a re-run chapter is cut off): renaming a chapter costs one call.
cd "$TRASH" || exit 1
KEY=sk-test-quire-fields-5e2a
export OPENAI_API_KEY=$KEY
start_fake_openai "$KEY"
q init o >/dev/null && cd o || exit 1
cp ../s/outline-src.json .
cat >>quire.yaml <<EOF
  planner:
    provider: exec
    params: { argv: [cat, outline-src.json] }
EOF
python3 - "$PORT" <<'EOF'
import re, sys
q = open("quire.yaml").read()
q = q.replace("    provider: mock\n    model: mock-writer\n",
              "    provider: openai\n    model: stream\n"
              "    params: { base_url: \"http://127.0.0.1:%s/v1\" }\n" % sys.argv[1], 1)
open("quire.yaml", "w").write(q)
b = open("blueprint.yaml").read()
open("blueprint.yaml", "w").write(re.sub(r"(  Outline:\n    role: )writer", r"\1planner", b))
EOF
run_q "the story on openai" 0 run
is "twelve calls: three chapters, three summaries, six scenes" "$(fake_count stream)" 12
python3 - <<'EOF'
import json
o = json.load(open("out/Outline.json"))
o["chapters"][1]["title"] = "Another Name"
json.dump(o, open("../renamed-o.json", "w"))
EOF
run_q "rename chapter 2" 0 edit Outline --file ../renamed-o.json
run_q "run it" 0 run --json
is "one call" "$(fake_count stream)" 13
is "that chapter made" "$(event_ids produced)" "Chapter[1]"
check "what follows it unchanged" sh -c "grep -q '\"event\":\"unchanged\",\"id\":\"StorySoFar\[1\]\"' '$TRASH/.out'"
kill "$server" 2>/dev/null
done_testing
