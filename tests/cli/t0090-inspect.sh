#!/bin/bash
# inspect: a revision's inputs and artefacts, one artefact's provenance and content, --json.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "inspect before any run" 3 inspect
check "says nothing is built" err_has "nothing has been built yet"
run_q "first run" 0 run
run_q "inspect the current revision" 0 inspect
check "names the revision" out_has "revision $(rev 1)"
check "lists inputs" out_has "Chapters"
check "lists 11 artefacts" out_has "artefacts (11):"
run_q "inspect one chapter" 0 inspect 'Chapter[0]'
check "provenance: producer and role" out_has "producer:    Chapter (role writer)"
check "provenance: provider and model" out_has "provider:    mock, model mock-writer"
check "provenance: upstream" out_has "upstream:    Outline"
check "content matches out/" sh -c "tail -n +\$(( \$(grep -n '^$' '$TRASH/.out' | head -1 | cut -d: -f1) + 1 )) '$TRASH/.out' | cmp -s - out/Chapter-0.md"
run_q "inspect --json" 0 inspect --json 'Chapter[0]'
check "json carries content and digest" python3 -c '
import json,sys,hashlib; d=json.load(open(sys.argv[1]))
assert d["content"]==open("out/Chapter-0.md").read()
assert d["digest"]=="sha256:"+hashlib.sha256(open("out/Chapter-0.md","rb").read()).hexdigest()' "$TRASH/.out"
run_q "inspect a pattern" 0 inspect 'Scene[1][*]'
is "two scenes listed" "$(wc -l <"$TRASH/.out")" 2
run_q "inspect an unknown id" 3 inspect 'Chapter[9]'
check "says so" err_has "$(rev 1) has no artefact 'Chapter[9]'"
sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
run_q "second run" 0 run
run_q "inspect an older revision" 0 inspect --json --revision $(rev 1)
check "the old revision keeps the old input" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["inputs"]["Tone"]["value"]=="warm"' "$TRASH/.out"
run_q "inspect a revision that does not exist" 3 inspect --revision rev-0042
check "names it" err_has "revision rev-0042 does not exist"
r1=$(revfull 1)
printf 'quire-objects 1\n%s 9\n{ broken\n' "$r1" >$(pack 1)
run_q "a corrupt revision is reported, not trusted" 5 inspect --revision ${r1:0:12}
check "naming its pack" err_has ".quire/revs/$r1.objects"
done_testing
