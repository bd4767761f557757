#!/bin/bash
# quire rewind: shows the impact, commits a new revision equal to an earlier one, restores its
# input files byte for byte; rewinding back undoes it; bad revisions change nothing.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "rev-0001" 0 run
snap() { (cat inputs.yaml prompts/*.md; for f in out/*; do echo "== $f"; cat "$f"; done) | sha256sum; }
arts() { python3 -c 'import json,sys; print(json.dumps({k:(v.get("digest"),v.get("status")) for k,v in json.load(open(sys.argv[1]))["artefacts"].items()},sort_keys=True))' "$1"; }
s1=$(snap)
sed -i 's/^Tone: warm/Tone: wry/; s/^Scenes: 2/Scenes: 1/' inputs.yaml
echo "Add weather." >>prompts/chapter.md
run_q "rev-0002" 0 run
s2=$(snap)
run_q "preview" 0 rewind $(rev 1) --preview
check "lists changed artefacts" out_has "artefacts to change"
check "lists artefacts coming back" out_has "artefacts to bring back"
check "lists inputs" out_has "inputs to change        2: Scenes Tone"
check "lists files" out_has "files to restore"
is "preview changed nothing" "$(snap)" "$s2"
run_q "off a terminal, --yes is required" 2 rewind $(rev 1)
is "still nothing changed" "$(snap)" "$s2"
run_q "rewind to rev-0001" 0 rewind $(rev 1) --yes
check "a new revision" out_has "committed $(rev 3) (equal to $(rev 1))"
is "inputs, prompts and out/ are as at rev-0001" "$(snap)" "$s1"
is "the revision's artefacts equal rev-0001's" "$(arts $(revjson 3))" "$(arts $(revjson 1))"
run_q "nothing to regenerate" 0 plan --check
run_q "rewind back" 0 rewind $(rev 2) --yes
is "everything is as at rev-0002" "$(snap)" "$s2"
is "artefacts equal to rev-0002's" "$(arts $(revjson 4))" "$(arts $(revjson 2))"
run_q "an input edit makes a revision" 0 edit --set Tone=eerie
edited=$(cat .quire/current)
sed -i 's/^Tone: eerie/Tone: bright/' inputs.yaml
echo "An edit nobody ran." >>prompts/chapter.md
before=$(snap)
run_q "preview names the edits no revision recorded" 0 rewind "$edited" --preview
check "as blocking the rewind" out_has "unrecorded edits (block) 2: inputs.yaml prompts/chapter.md"
run_q "a rewind over unrecorded edits is refused" 7 rewind "$edited" --yes
check "naming the files" err_has "'inputs.yaml', 'prompts/chapter.md' have changes no revision recorded"
check "saying how to go on" err_has "quire run"
is "the writer's edits are untouched" "$(snap)" "$before"
mv prompts/chapter.md /tmp/chapter.$$.md
run_q "a file moved aside is no longer in the way" 7 rewind "$edited" --yes
check "only inputs.yaml is named" err_has "'inputs.yaml' has changes"
mv /tmp/chapter.$$.md prompts/chapter.md
run_q "recording them with a run" 0 run
rec=$(cat .quire/current)
run_q "rewinding to a revision made by an edit" 0 rewind "$edited" --yes
check "restores the edited inputs.yaml" grep -qx 'Tone: eerie' inputs.yaml
run_q "rewind to the recorded edits" 0 rewind "$rec" --yes
check "inputs.yaml as recorded" grep -qx 'Tone: bright' inputs.yaml
check "the prompt as recorded" grep -qx 'An edit nobody ran.' prompts/chapter.md
run_q "rewind back" 0 rewind $(rev 4) --yes
s2=$(snap)
run_q "the log shows the rewinds" 0 inspect --log
check "with their message" out_has "quire rewind $(rev 2) (restores $(rev 2))"
run_q "an unknown revision" 3 rewind rev-0042 --yes
check "says so" err_has "revision rev-0042 does not exist"
run_q "a malformed revision" 3 rewind yesterday --yes
r1=$(revfull 1)
printf 'quire-objects 1\n%s 9\n{ broken\n' "$r1" >$(pack 1)
state=$(store_state)
run_q "a corrupt revision" 5 rewind ${r1:0:12} --yes
check "names the file" err_has ".quire/revs/$r1.objects"
is "nothing changed" "$(snap)" "$s2"
is "and no revision was added" "$(store_state)" "$state"
done_testing
