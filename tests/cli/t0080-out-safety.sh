#!/bin/bash
# Nothing quire writes can leave out/ or the project: names are sanitised, paths are checked,
# symlinks planted in out/ are replaced rather than followed.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
echo "precious" >"$TRASH/victim"
rm out/Chapter-0.md && ln -s "$TRASH/victim" out/Chapter-0.md
echo "Longer." >>prompts/chapter.md
run_q "a run with a symlink planted in out/" 0 run
is "the symlink target is untouched" "$(cat "$TRASH/victim")" "precious"
check "out/Chapter-0.md is a regular file now" sh -c 'test -f out/Chapter-0.md && test ! -L out/Chapter-0.md'

cp blueprint.yaml bp.orig
sed -i 's/output: { type: text, ext: md }/output: { type: text, ext: "..\/..\/x" }/' blueprint.yaml
run_q "an extension with a path in it is refused" 3 plan
check "the message is positioned" err_has "blueprint.yaml:"
check "and says why" err_has "ext must be 1 to 16 letters or digits"
cp bp.orig blueprint.yaml

sed -i 's/prompt: prompts\/scene.md/prompt: ..\/..\/etc\/passwd/' blueprint.yaml
run_q "a prompt outside the project is refused" 3 plan
check "relative path inside the project" err_has "must be a relative path inside the project"
cp bp.orig blueprint.yaml

cp quire.yaml q.orig
sed -i 's/^out: out/out: ..\/elsewhere/' quire.yaml
run_q "an out directory outside the project is refused" 3 run
check "nothing was written outside" test ! -e "$TRASH/elsewhere"
sed -i 's/^out: .*/out: .quire\/x/' quire.yaml
run_q "out inside .quire is refused" 3 run
sed -i 's/^out: .*/out: .\/.quire/' quire.yaml
run_q "out as ./.quire is refused too" 3 run
check "naming .quire" err_has "not .quire"
sed -i 's/^out: .*/out: x\/../' quire.yaml
run_q "out as x/.. (the project itself) is refused" 3 run
check "saying why" err_has "not the project itself"
sed -i 's/^out: .*/out: .\/gen\/\/book\//' quire.yaml
run_q "an out spelt ./gen//book/ is fine" 0 run
check "and is gen/book" test -d gen/book
rm -rf gen
cp q.orig quire.yaml
run_q "back to normal" 0 run
check "no stray file next to the project" sh -c "ls '$TRASH' | grep -qvx -e s -e victim -e home -e .out -e .err -e quire-wrapped && exit 1 || exit 0"
done_testing
