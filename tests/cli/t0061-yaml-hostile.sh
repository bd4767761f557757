#!/bin/bash
# Hostile YAML in every file quire reads: a positioned error and exit 3, never a crash, a hang or
# gigabytes of memory; aliases used reasonably still work.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
cp blueprint.yaml bp.orig && cp inputs.yaml in.orig && cp quire.yaml q.orig
state=$(store_state)

# Six bytes that crashed libfyaml 0.7.12 (exit 139 inside fy_indent_vacuum_internal).
for f in blueprint.yaml inputs.yaml quire.yaml; do
	printf '? D:\t?' >"$f"
	run_q "$f holding '? D:\\t?': plan exits 3" 3 plan
	check "$f: a positioned message" err_has "$f:1:6: mapping keys are not allowed in this context"
	run_q "$f: run exits 3" 3 run
	is "$f: the store is unchanged" "$(store_state)" "$state"
	cp bp.orig blueprint.yaml && cp in.orig inputs.yaml && cp q.orig quire.yaml
done
printf '? D:\t?' >"$TRASH/hostile.yaml"
run_q "edit --from a file holding '? D:\\t?' exits 3" 3 edit --from "$TRASH/hostile.yaml"
check "with a positioned message" err_has "hostile.yaml:1:6: mapping keys are not allowed"
check "inputs.yaml is unchanged" cmp -s in.orig inputs.yaml

# A billion laughs: nine levels, each nine aliases of the one before (9^9 values in 300 bytes).
{
	echo 'a: &a [x,x,x,x,x,x,x,x,x]'
	prev=a
	for c in b c d e f g h i; do
		printf '%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n' "$c" "$c" \
			$prev $prev $prev $prev $prev $prev $prev $prev $prev
		prev=$c
	done
} >inputs.yaml
is "the bomb is about 300 bytes" "$(($(wc -c <inputs.yaml) / 100))" 3
start=$(date +%s%N)
run_q "nested aliases: plan exits 3" 3 plan
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "quickly (${elapsed_ms} ms)" test "$elapsed_ms" -lt 5000
check "naming the alias that crosses the bound" \
	err_has "inputs.yaml:6:8: yaml aliases expand to more than 100000 values"
run_q "run refuses too" 3 run
is "the store is unchanged" "$(store_state)" "$state"

# Ten thousand '[': refused at the 64th (the file's mapping is the first level), before anything
# walks the tree.
{ printf 'Premise: '; head -c 10000 /dev/zero | tr '\0' '['; echo; } >inputs.yaml
run_q "deep nesting: plan exits 3" 3 plan
check "positioned at the level past the bound" \
	err_has "inputs.yaml:1:73: yaml nests more than 64 levels deep"

printf 'Premise: *nowhere\n' >inputs.yaml
run_q "an alias without an anchor exits 3" 3 plan
check "positioned" err_has "inputs.yaml:1:10: unknown anchor 'nowhere'"

printf 'Premise: a\nTone: warm\nPremise: b\n' >inputs.yaml
run_q "a duplicate key exits 3" 3 plan
check "at the second key" err_has "inputs.yaml:3:1: duplicate key 'Premise'"

printf 'Premise: a\n---\nTone: warm\n' >inputs.yaml
run_q "a second document exits 3" 3 plan
check "at its start" err_has "inputs.yaml:2:1: a second yaml document starts here"

# An anchor reused a few times is ordinary YAML and works.
cat >inputs.yaml <<'EOF'
# The premise doubles as the title; scenes per chapter follow the chapter count.
Title: &premise A keeper answers letters.
Premise: *premise
Tone: warm
Chapters: &n 2
Scenes: *n
EOF
cp inputs.yaml aliased.yaml
run_q "reasonable aliases: plan" 0 plan
check "two chapters of two scenes" out_has "Scene[1][1]"
check "and no third" sh -c "! grep -q '^  run .*Scene\\[\\(2\\|1\\]\\[2\\)' '$TRASH/.out'"
run_q "a run" 0 run
check "the title is the premise" grep -q '^# A keeper answers letters.$' out/Book.md
run_q "setting an aliased value is refused" 3 edit --set Scenes=3
check "saying why" err_has "the value of 'Scenes' is an alias of another value; edit it by hand"
check "inputs.yaml is unchanged" cmp -s aliased.yaml inputs.yaml
run_q "setting an unaliased one works" 0 edit --set Tone=eerie
check "only that value changed" sh -c "diff aliased.yaml inputs.yaml | grep '^[<>]' | tr '\n' '|' | grep -qx '< Tone: warm|> Tone: eerie|'"
done_testing
