#!/bin/bash
# Malformed YAML, unknown ids, cycles and wrong input types: a positioned error, a non-zero exit,
# and the store exactly as it was.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
cp blueprint.yaml bp.orig && cp inputs.yaml in.orig && cp prompts/chapter.md ch.orig
state=$(store_state)

expect_error() { # DESCRIPTION MESSAGE
	run_q "$1: plan exits 3" 3 plan
	check "$1: message '$2'" err_has "$2"
	run_q "$1: run exits 3" 3 run
	is "$1: the store is unchanged" "$(store_state)" "$state"
}

sed -i 's/^  Chapter:$/  Chapter:\n   bad: [unclosed/' blueprint.yaml
expect_error "malformed YAML" "blueprint.yaml:2"
cp bp.orig blueprint.yaml

sed -i 's/      - Chapter\[i\]/      - Chaptr[i]/' blueprint.yaml
expect_error "unknown id" "blueprint.yaml:34:9: producer 'Scene' uses unknown id 'Chaptr' (did you mean 'Chapter'?)"
cp bp.orig blueprint.yaml

sed -i 's/    uses: \[Premise, Tone, Outline\]/    uses: [Premise, Tone, Outline, Book]/' blueprint.yaml
expect_error "cycle" "dependency cycle:"
check "cycle: the path is named" err_has "Chapter -> Book -> Scene -> Chapter"
cp bp.orig blueprint.yaml

sed -i 's/^Chapters: 3/Chapters: three/' inputs.yaml
expect_error "wrong input type" "inputs.yaml:8:11: input 'Chapters' must be an integer"
cp in.orig inputs.yaml

sed -i 's/^Chapters: 3/Chapters: 0/' inputs.yaml
expect_error "below minimum" "inputs.yaml:8:11: input 'Chapters' is 0, below its minimum 1"
cp in.orig inputs.yaml

sed -i 's/^Tone: warm/Tone: grim/' inputs.yaml
expect_error "not an enum value" "input 'Tone' must be one of 'warm', 'wry', 'eerie', 'bright'"
cp in.orig inputs.yaml

echo "Chapterz: 2" >>inputs.yaml
expect_error "unknown input" "inputs.yaml:10:1: unknown input 'Chapterz' (did you mean 'Chapters'?)"
cp in.orig inputs.yaml

echo 'Also {{Premis}}.' >>prompts/chapter.md
expect_error "unknown name in a prompt" "prompts/chapter.md:8:6: unknown name 'Premis' in the template of producer 'Chapter' (did you mean 'Premise'?)"
cp ch.orig prompts/chapter.md

echo 'Also {{Title}}.' >>prompts/chapter.md
expect_error "a prompt name outside uses" "'Title' is not in the uses of producer 'Chapter'"
cp ch.orig prompts/chapter.md

printf 'Premise: "\xff\xfe"\n' >>inputs.yaml
expect_error "invalid UTF-8" "invalid UTF-8"
cp in.orig inputs.yaml

sed -i 's/provider: mock$/provider: nosuch/' quire.yaml
run_q "an unknown provider is refused before anything runs" 3 run
check "the message names the provider" err_has "provider 'nosuch'"
is "the store is unchanged" "$(store_state)" "$state"
sed -i 's/provider: nosuch$/provider: mock/' quire.yaml

cd "$TRASH" && new_story fresh
sed -i 's/provider: mock$/provider: mokc/' quire.yaml
run_q "a fresh project with an unknown provider: plan refuses" 3 plan
check "naming the role and provider" err_has "quire.yaml: role 'writer': no provider 'mokc': not built in (mock,"
run_q "run refuses too" 3 run
check "and wrote nothing at all" test ! -e .quire
cd "$TRASH/s"

run_q "an unknown target" 3 plan 'Scne[1]'
check "did you mean" err_has "no instance matches 'Scne[1]' (did you mean 'Scene'?)"
run_q "a malformed target" 3 run 'Scene[x'
run_q "an unknown option is a usage error" 2 run --frobnicate
run_q "an unknown command is a usage error" 2 frobnicate
run_q "everything is still up to date" 0 plan --check
is "and the store never changed" "$(store_state)" "$state"
done_testing
