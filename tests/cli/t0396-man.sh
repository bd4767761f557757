#!/bin/bash
# Man pages: quire(1) and one per command, built from docs/man/*.scd with scdoc, rendered by
# man -l, installed by meson install; their lists agree with --help's (the same tables).
. "$(dirname "$0")/lib.sh"
MAN="${QUIRE_BUILD_ROOT:?}/docs/man"
render() { MANWIDTH=200 man -l "$MAN/$1.1" 2>/dev/null | col -b; }
cmds=$("$QUIRE" help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' | grep -v -x -e help -e version)
check "quire(1) renders" bash -c "MANWIDTH=200 man -l '$MAN/quire.1' | col -b | grep -q 'quire - make for generated stories'"
for c in $cmds; do
	page=$(render "quire-$c")
	check "quire-$c(1) renders with its name" grep -q "quire-$c - " <<<"$page"
	opts=$("$QUIRE" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
	check "quire $c --help names options (the check below is not empty)" test -n "$opts"
	missing=
	for o in $opts; do
		grep -qF -- "$o" <<<"$page" || missing="$missing $o"
	done
	is "quire-$c(1) has every option of 'quire $c --help'" "$missing" ""
	check "quire(1) lists $c" bash -c "render() { MANWIDTH=200 man -l '$MAN/quire.1' | col -b; }; render | grep -q '^ *$c\$'"
done
# The exit codes: the table of 'quire --help', line for line.
squeeze() { tr -s ' \t' '  ' | sed 's/^ //'; }
help_codes=$("$QUIRE" --help | sed -n '/^exit codes:/,/^$/p' | sed '1d;/^$/d' | squeeze)
man_codes=$(render quire | sed -n '/^EXIT STATUS/,/^ENVIRONMENT/p' | sed '1d;$d;/^$/d' | squeeze)
is "quire(1)'s exit codes are quire --help's" "$man_codes" "$help_codes"
# The dirty reasons: every one 'quire plan --help' lists is in quire-plan(1).
plan_page=$(render quire-plan)
reasons=$("$QUIRE" plan --help | sed -n '/^reasons/,$p' | sed '1d' | grep -E '^  [a-z]' | sed -E 's/^  ([^ ].*[^ ])  +.*/\1/' | cut -c1-30)
check "the reasons were read from plan --help (the check below is not empty)" test "$(wc -l <<<"$reasons")" -ge 15
missing=
while read -r reason; do
	grep -qF -- "$reason" <<<"$plan_page" || missing="$missing [$reason]"
done <<<"$reasons"
is "quire-plan(1) names every reason plan --help lists" "$missing" ""
check "installed by meson install into man1" bash -c "meson install -C '$QUIRE_BUILD_ROOT' --destdir '$TRASH/dest' >/dev/null 2>&1 &&
	test -f \"\$(find '$TRASH/dest' -path '*/man1/quire-run.1' | head -1)\""
done_testing
