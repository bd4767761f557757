#!/bin/bash
# examples/short-story: make builds the book through quire; a second make does nothing; a
# source edit that changes no artefact leaves make's downstream targets alone.
. "$(dirname "$0")/lib.sh"
cp -r "$QUIRE_SOURCE_ROOT/examples/short-story" ex && cd ex && rm -rf .quire out wordcount.txt
m() { make --no-print-directory QUIRE="$QUIRE" "$@" >"$TRASH/.out" 2>"$TRASH/.err"; }
check "make builds the example" m
check "the book exists" test -s out/Book.md
check "the word count exists" test -s wordcount.txt
check "quire ran through make" out_has "run: $(rev 1): 11 produced"
check "a second make" m
check "does nothing" out_has "Nothing to be done for 'all'."
wc_before=$(stat -c %Y.%y wordcount.txt)
echo "# just a comment" >>inputs.yaml
check "make after a comment-only edit" m
check "quire had nothing to do" out_has "run: nothing to do"
is "the word count was not rebuilt" "$(stat -c %Y.%y wordcount.txt)" "$wc_before"
sleep 1
sed -i 's/^Tone: warm/Tone: eerie/' inputs.yaml
check "make after a real edit" m
check "quire regenerated" out_has "run: $(rev 2):"
check "and the word count followed" out_has "the book has"

# make clean removes what make built, never the revisions and outputs already paid for.
check "make clean" m clean
check "the revisions are still there" test -f $(pack 2)
check "the blobs are still there" test -d .quire/blobs
check "make after make clean" m
check "out/ restored without generating anything" out_has "run: nothing to do, 11 up to date (out/: 11 restored)"
check "the book is back" test -s out/Book.md
check "the word count is back" test -s wordcount.txt

# Every example hands quire make's jobserver ('+'), so make -jN bounds it too.
for mk in "$QUIRE_SOURCE_ROOT"/examples/*/Makefile; do
	check "$(basename "$(dirname "$mk")"): quire runs with '+'" \
		sh -c '! grep -E "^\s+[^+[:space:]].*\\$\(QUIRE\) run" "$1" && grep -qE "^\s+\+\\$\(QUIRE\) run" "$1"' sh "$mk"
	check "$(basename "$(dirname "$mk")"): make clean keeps .quire" \
		sh -c '! grep -A3 "^clean:" "$1" | grep -q "\.quire"' sh "$mk"
done
done_testing
