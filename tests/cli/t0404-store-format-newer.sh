#!/bin/bash
# A store a newer quire moved to a format this one does not know (.quire/format names it) is
# refused by every command that reads or writes it, before anything is read or written:
# the message says what the file names and to upgrade quire, the exit code is the store's,
# and the store is left as it was.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "a first run" 0 run
is "marks the store as format 2" "$(cat .quire/format)" 2
echo 3 >.quire/format
sed -i 's/^Tone: .*/Tone: bright/' inputs.yaml
before=$(store_state)
db=$(sha256sum .quire/quire.db | cut -d' ' -f1)
for c in "run" "plan" "status" "inspect --log" "inspect Outline" "edit --set Tone=wry" \
	"rewind current~1" "log" "diff current~1 current" "show Outline" "graph" "push" \
	"pull" "fsck" "fsck --repair" "gc"; do
	# shellcheck disable=SC2086
	run_q "$c" 5 $c
	check "$c: says the format and to upgrade quire" \
		err_has "this project's store is in format '3' (.quire/format), which this quire does not know (it reads formats 1 and 2): upgrade quire"
done
is "nothing in the store changed" "$(store_state)" "$before"
is "nor quire.db" "$(sha256sum .quire/quire.db | cut -d' ' -f1)" "$db"
is "nor the format" "$(cat .quire/format)" 3
# What the file says is shown as it is, cut short and without control characters.
printf 'format\0\033[31m9 of the future, with a long tail\n' >.quire/format
run_q "a damaged or odd format file" 5 plan
check "is named safely" err_has "format 'format??[31m9 of the future, wit' ("
echo 2 >.quire/format
run_q "format 2 again" 0 run --json
is "the run goes on" "$(count_events produced)" 11
done_testing
