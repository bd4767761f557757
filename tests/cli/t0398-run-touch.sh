#!/bin/bash
# run --touch (make -t, dvc commit): a dirty instance's current output is accepted for its new
# fingerprint without calling a provider; refused, with nothing done, for an instance that
# has no output; an accepted output says so and never enters the action cache.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "a first run" 0 run
cp -r out "$TRASH/out-before"
sed -i 's/self-contained scene/self-contained  scene/' prompts/scene.md # a typo fixed
run_q "the scenes are dirty" 1 plan --check
run_q "run --touch" 0 run --touch --json
is "nothing produced, nothing billed" "$(count_events produced)" 0
is "six scenes accepted" "$(count_events accepted)" 6
check "the summary counts them" python3 -c '
import json,sys; s=[json.loads(l) for l in open(sys.argv[1])][-1]
assert s["accepted"]==6 and s["produced"]==0 and s["revision"]=="'"$(revfull 2)"'", s' "$TRASH/.out"
run_q "up to date now" 0 plan --check
check "the revision counts them as accepted, not cached" python3 -c '
import json; c=json.load(open("'"$(revjson 2)"'"))["counts"]
assert c.get("accepted")==6 and not c.get("cached"), c'
check "out/ is as it was" diff -r out "$TRASH/out-before"
run_q "inspect says how it came to be" 0 inspect 'Scene[1][0]'
check "accepted without regenerating" out_has "accepted without regenerating ('quire run --touch')"
run_q "a second --touch" 0 run --touch
check "has nothing to do" out_has "run: nothing to do"
run_q "log" 0 log -n 1
check "the revision says what it accepted" out_has "6 accepted without regenerating"
run_q "show" 0 show
check "so does show" out_has "accepted without regenerating ('quire run --touch'): 6"
run_q "plan --explain" 0 plan --explain
check "names what is up to date by acceptance" out_has "up to date, accepted without regenerating ('quire run --touch'):"
check "the scenes" out_has "  Scene[2][1]"
run_q "plan --explain --json" 0 plan --explain --json
check "as a list" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert len(d["accepted"])==6 and "Scene[0][0]" in d["accepted"], d' "$TRASH/.out"

# The accepted fingerprint never entered the action cache: back to the original text, the
# scenes come from the cache (made for it); with the typo again, they are generated, not
# taken from the cache as if made for it.
sed -i 's/self-contained  scene/self-contained scene/' prompts/scene.md
run_q "back to the original prompt" 0 run --json
is "the original outputs come from the action cache" "$(count_events cached)" 6
sed -i 's/self-contained scene/self-contained  scene/' prompts/scene.md
run_q "the typo again, without --touch" 0 run --json
is "generated (six scenes and the Book): --touch left nothing in the cache" "$(count_events produced)" 7

# Targets: only those are accepted; the rest stays dirty.
sed -i 's/vivid, /vivid; /' prompts/scene.md
run_q "--touch with a target" 0 run --touch 'Scene[0][*]'
check "two accepted" out_has "2 accepted without regenerating"
run_q "the other scenes are still dirty" 1 plan --check

# An output whose blob is gone cannot be accepted, also when something else made it dirty.
sed -i 's/vivid; /vivid, /' prompts/scene.md
blob=$(python3 -c '
import json; print(json.load(open("'"$(current_json)"'"))["artefacts"]["Scene[1][0]"]["digest"].split(":")[1])')
blob_rm "$blob"
rm -f out/Scene-1-0.md
before=$(cat .quire/current)
run_q "--touch with a lost blob is refused" 3 run --touch
check "naming it" err_has "run --touch: Scene[1][0] has no output to accept"
is "no revision was made" "$(cat .quire/current)" "$before"
run_q "a normal run makes it again" 0 run

# An instance with no output cannot be accepted: nothing is done.
sed -i 's/^Chapters: 3/Chapters: 4/' inputs.yaml
before=$(cat .quire/current)
run_q "--touch with a new chapter is refused" 3 run --touch
check "naming it" err_has "run --touch: Chapter[3] has no output to accept"
is "no revision was made" "$(cat .quire/current)" "$before"
run_q "--touch with --regenerate is a usage error" 2 run --touch --regenerate 'Scene[0][0]'
run_q "run --help tells of --touch" 0 run --help
check "it does" out_has "--touch"
done_testing
