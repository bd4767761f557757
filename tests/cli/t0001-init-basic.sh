#!/bin/bash
# quire init: a self-contained project; idempotent; refuses to clobber; bundled and given blueprints.
. "$(dirname "$0")/lib.sh"

run_q "init creates a story project" 0 init proj
for f in quire.yaml blueprint.yaml inputs.yaml prompts/outline.md prompts/chapter.md \
	prompts/scene.md prompts/book.md schemas/outline.json .gitignore .gitattributes; do
	check "init wrote $f" test -f "proj/$f"
done
check "gitignore keeps blobs and the database out of git" grep -qx '.quire/blobs/' proj/.gitignore
check "gitignore does not ignore manifests" sh -c '! grep -v "^#" proj/.gitignore | grep -q manifests'
check "git merges current line by line, keeping both sides" \
	grep -qx '.quire/current merge=union' proj/.gitattributes
check "and never converts line endings of outputs, keeping this clone's on a merge" \
	grep -qx 'out/\*\* -text merge=quire-out' proj/.gitattributes
check "every role is bound to the mock provider" grep -q 'provider: mock' proj/quire.yaml

before=$(cd proj && find . -type f | sort | xargs sha256sum | sha256sum)
run_q "init again is a no-op" 0 init proj
check "the no-op says so" out_has "nothing to do"
after=$(cd proj && find . -type f | sort | xargs sha256sum | sha256sum)
is "init again changed nothing" "$after" "$before"

echo "# my premise" >>proj/inputs.yaml
run_q "init in a project already made touches only its git parts" 0 init proj
check "the edit is kept" grep -q '# my premise' proj/inputs.yaml
run_q "init with a blueprint refuses to overwrite an edited file" 3 init proj --blueprint story
check "it names the file" err_has "inputs.yaml already exists"
check "the edit survived" grep -q '# my premise' proj/inputs.yaml

mkdir mine && printf 'node_modules/\n' >mine/.gitignore && printf '*.png binary' >mine/.gitattributes
run_q "init into a directory with its own .gitignore and .gitattributes" 0 init mine
check "the user's .gitignore lines are kept" grep -qx 'node_modules/' mine/.gitignore
check "quire's lines are added" grep -qx '.quire/blobs/' mine/.gitignore
check "the user's .gitattributes lines are kept" grep -qx '\*.png binary' mine/.gitattributes
check "quire's are added" grep -qx '.quire/current merge=union' mine/.gitattributes
run_q "init there again" 0 init mine
is "adds them once" "$(grep -c 'merge=union' mine/.gitattributes)" 1
# A project made before a line was added to quire's .gitignore gets that line, once.
grep -v '^.quire/edits/$' mine/.gitignore >mine/.gi && mv mine/.gi mine/.gitignore
run_q "init in a project made before .quire/edits/ was ignored" 0 init mine
is "adds the line it lacks" "$(grep -c '^.quire/edits/$' mine/.gitignore)" 1
is "and no other twice" "$(grep -c '^.quire/blobs/$' mine/.gitignore)" 1
# A project writing its outputs elsewhere gets the out/ lines for that directory.
rm mine/.gitattributes && sed -i "s/^out: .*/out: book/" mine/quire.yaml
run_q "init in a project with its own out directory" 0 init mine
check "its outputs keep this clone's on a merge" grep -qx 'book/\*\* -text merge=quire-out' mine/.gitattributes

run_q "init --blueprint list names story" 0 init --blueprint list
check "story is listed" out_has "story"
run_q "an unknown bundled blueprint is an error" 3 init other --blueprint nosuch
check "nothing was created for it" test ! -e other/quire.yaml

mkdir src src/p
cat >src/bp.yaml <<'YAML'
blueprint: tiny
inputs:
  Topic: { type: text, required: true }
  Count: { type: int, default: 2, min: 1 }
producers:
  Note:
    foreach: { i: Count }
    role: scribe
    prompt: p/note.md
    uses: [Topic]
YAML
echo 'Note {{i}} on {{Topic}}' >src/p/note.md
run_q "init --blueprint FILE copies the blueprint and its prompts" 0 init tiny --blueprint src/bp.yaml
check "the prompt came along" test -f tiny/p/note.md
check "the generated quire.yaml binds the role" grep -q 'scribe:' tiny/quire.yaml
run_q "a required input left unset stops the plan" 3 -C tiny plan
check "the message names the input" err_has "required input 'Topic' has no value"
printf 'Topic: "tides"\n' >>tiny/inputs.yaml
run_q "once set, the custom project runs" 0 -C tiny run
check "two notes were made" test -f tiny/out/Note-1.md

run_q "init --help tells the truth" 0 init --help
check "help mentions --blueprint" out_has "--blueprint NAME"
done_testing
