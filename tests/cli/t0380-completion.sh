#!/bin/bash
# bash completion (completion/quire.bash): commands, each command's options, ids of the current
# plan, revisions; registered with complete(1); installed where bash-completion finds it.
. "$(dirname "$0")/lib.sh"
COMPLETION="$QUIRE_SOURCE_ROOT/completion/quire.bash"
# complete WORDS...: what completing the last word gives, one per line, sorted.
complete_words() {
	(
		PATH="$(dirname "$QUIRE"):$PATH"
		. "$COMPLETION"
		COMP_WORDS=(quire "$@")
		COMP_CWORD=$#
		_quire
		printf '%s\n' "${COMPREPLY[@]}" | sort
	)
}
new_story s
check "the function is registered for quire" bash -c ". '$COMPLETION'; complete -p quire | grep -q -- '-F _quire quire'"
is "commands" "$(complete_words r | tr '\n' ' ')" "rewind run "
check "every command of 'quire help'" test "$(complete_words '' | wc -l)" -ge 15
is "run's options from its --help" "$(complete_words run --ma | tr '\n' ' ')" "--max-cost "
check "including --wait" grep -qx -- --wait <<<"$(complete_words run --w)"
is "plan's" "$(complete_words plan --e | tr '\n' ' ')" "--explain "
run_q "a run" 0 run
is "ids of the plan" "$(complete_words inspect 'Chapter' | tr '\n' ' ')" "Chapter[0] Chapter[1] Chapter[2] "
check "revisions for diff" grep -qx $(rev 1) <<<"$(complete_words diff '')"
check "and current~1" grep -qx 'current~1' <<<"$(complete_words diff cur)"
is "-C takes a directory" "$(cd "$TRASH" && complete_words -C s | tr '\n' ' ')" "s "
is "after -C DIR, commands again" "$(complete_words -C . pl | tr '\n' ' ')" "plan "
is "secret's subcommands" "$(complete_words secret s | tr '\n' ' ')" "set "
is "init --blueprint names blueprints" "$(complete_words init --blueprint s | tr '\n' ' ')" "screenplay story "
# meson install puts it where bash-completion looks (share/bash-completion/completions).
if [ -n "${QUIRE_BUILD_ROOT:-}" ]; then
	check "installed by meson install" bash -c "meson install -C '$QUIRE_BUILD_ROOT' --destdir '$TRASH/dest' >/dev/null 2>&1 &&
		find '$TRASH/dest' -path '*/share/bash-completion/completions/quire' | grep -q ."
fi
done_testing
