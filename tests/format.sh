#!/bin/sh
# Every C file of the project is formatted as .clang-format says (Debian's clang-format, from
# scripts/setup.sh). A TAP test, so that CI counts it; fix with:
#   git ls-files '*.c' '*.h' | xargs clang-format -i
cd "${QUIRE_SOURCE_ROOT:?}" || exit 1
echo "1..1"
if git rev-parse --git-dir >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h')
else
	files=$(find core cli providers tests bench -name '*.c' -o -name '*.h')
fi
# shellcheck disable=SC2086
if out=$(clang-format --dry-run -Werror $files 2>&1); then
	echo "ok 1 - every C file is clang-formatted"
else
	echo "not ok 1 - every C file is clang-formatted"
	printf '%s\n' "$out" | grep -m 20 'error:' | sed 's/^/# /'
	exit 1
fi
