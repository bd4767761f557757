#!/bin/bash
# Colour and pager the git way: colour only on a terminal unless --color says otherwise,
# NO_COLOR honoured; long views through $PAGER on a terminal, never when piped.
. "$(dirname "$0")/lib.sh"
ESC=$'\033'
unset NO_COLOR # lib.sh sets it for the other tests' sake
export TERM=xterm
new_story s
run_q "a run, piped: no colour" 0 run
check "no escape codes" out_lacks "$ESC["
run_q "log, piped" 0 log
check "no colour" out_lacks "$ESC["
run_q "--color=always" 0 --color=always log
check "the revision in yellow" out_has "${ESC}[33m$(rev 1)${ESC}[m"
NO_COLOR=1 run_q "NO_COLOR with --color=auto" 0 --color=auto log
check "no colour" out_lacks "$ESC["
run_q "--color=sometimes" 2 --color=sometimes log
check "says what it takes" err_has "--color takes always, never or auto"
sed -i 's/^Tone: warm/Tone: wry/' inputs.yaml
run_q "plan --color=always" 0 --color=always plan
check "run in yellow" out_has "${ESC}[33mrun   ${ESC}[m"
run_q "run --color=always" 0 --color=always run
check "produced in green" out_has "${ESC}[32mproduced ${ESC}[m"
run_q "diff --color=always" 0 --color=always diff
check "removed lines red" grep -q "^${ESC}\[31m-" "$TRASH/.out"
check "added lines green" grep -q "^${ESC}\[32m+" "$TRASH/.out"
run_q "diff --word-diff --color=always" 0 --color=always diff --word-diff
check "removed words red" grep -qF "${ESC}[31m[-" "$TRASH/.out"

# On a terminal (script(1) gives one): log goes through the pager, coloured.
tty_run() { script -qec "$*" /dev/null </dev/null 2>&1 | tr -d '\r'; }
out=$(PAGER='sed s/^/PAGED:/' tty_run "$QUIRE" log)
check "log on a terminal goes through PAGER" grep -q '^PAGED:' <<<"$out"
check "and keeps its colour" grep -q "PAGED:${ESC}\[33m$(rev 2)" <<<"$out"
out=$(QUIRE_PAGER='sed s/^/QP:/' PAGER='sed s/^/PAGED:/' tty_run "$QUIRE" log)
check "QUIRE_PAGER wins over PAGER" grep -q '^QP:' <<<"$out"
out=$(PAGER='sed s/^/PAGED:/' tty_run "$QUIRE" --no-pager log)
check "--no-pager: no pager" test -z "$(grep PAGED: <<<"$out")"
check "but the log" grep -q "$(rev 2)" <<<"$out"
out=$(PAGER='sed s/^/PAGED:/' tty_run "$QUIRE" plan --explain)
check "plan --explain pages" grep -q '^PAGED:plan:' <<<"$out"
out=$(PAGER='sed s/^/PAGED:/' tty_run "$QUIRE" plan)
check "plain plan does not" test -z "$(grep PAGED: <<<"$out")"
out=$(PAGER='sed s/^/PAGED:/' "$QUIRE" log | cat)
check "piped: never paged" test -z "$(grep PAGED: <<<"$out")"
out=$(NO_COLOR=1 PAGER=cat tty_run "$QUIRE" log)
check "NO_COLOR on a terminal: no colour" test -z "$(grep "$ESC\[3" <<<"$out")"
done_testing
