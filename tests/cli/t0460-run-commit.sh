#!/bin/bash
# run --commit puts the revision into git (libgit2): the project's files, the revisions, the
# call records and out/, with a message summing the run; nothing when nothing changed, when
# the run failed (unless --commit=always), or when the writer staged something else (left
# for them to commit); git.autocommit in quire.yaml does it every run; the log names the
# commit that holds each revision.
. "$(dirname "$0")/lib.sh"
g() { git -c user.email=w@example.org -c user.name=Writer "$@"; }
q init s >/dev/null && cd s || exit 1
export GIT_AUTHOR_NAME=Writer GIT_AUTHOR_EMAIL=w@example.org
git init -q . && git config user.name Writer && git config user.email w@example.org
run_q "run --commit" 0 run --commit -m "first draft"
check "says so" grep -qE '^git: committed '"$(rev 1)"' as [0-9a-f]{12}$' "$TRASH/.out"
is "one commit" "$(git rev-list --count HEAD)" 1
check "its message sums the run" sh -c "git log -1 --format=%B | grep -q '^quire: $(rev 1): 14 produced, 0 cached$'"
check "and carries the revision's message" sh -c "git log -1 --format=%B | grep -qx 'first draft'"
check "it holds the revision, its calls and out/" sh -c \
	"git ls-files | grep -qx $(pack 1) && git ls-files | grep -qx .quire/current && git ls-files | grep -qx .quire/calls/$(revfull 1).jsonl && git ls-files | grep -qx out/Book.md && git ls-files | grep -qx inputs.yaml && git ls-files | grep -qx prompts/chapter.md"
check "and nothing local" sh -c "! git ls-files | grep -q -e quire.db -e '^.quire/blobs'"
is "the work tree is clean" "$(git status --porcelain)" ""

run_q "a run with nothing to do" 0 run --commit
is "commits nothing" "$(git rev-list --count HEAD)" 1

run_q "an input changed" 0 edit --set Tone=wry
QUIRE_MOCK_FAIL='Scene[2][1]' run_q "a run with a failure" 1 run --commit
check "is not committed, and says so" err_has "was not committed to git"
is "still one commit" "$(git rev-list --count HEAD)" 1
QUIRE_MOCK_FAIL='Scene[2][1]' run_q "--commit=always" 1 run --commit=always
is "commits it anyway" "$(git rev-list --count HEAD)" 2

# What the writer staged is theirs.
echo "notes" >notes.txt && git add notes.txt
run_q "run --commit with something else staged" 7 run --commit
check "refuses to fold it in" err_has "'notes.txt' is staged in git and is not the project's"
is "no commit" "$(git rev-list --count HEAD)" 2
check "the file still staged" sh -c "git diff --cached --name-only | grep -qx notes.txt"
g commit -qm notes

# Every run, from quire.yaml.
printf 'git: { autocommit: true }\ncache: { push: false }\n' >>quire.yaml
run_q "another input changed" 0 edit --set Tone=eerie
run_q "a run with autocommit" 0 run
is "commits" "$(git rev-list --count HEAD)" 4
check "quire.yaml's change with it" sh -c "git show --stat HEAD | grep -q quire.yaml"

# The log names the commit that holds each revision.
run_q "quire log --json" 0 log --json
check "rev-0001 in the first commit" python3 -c '
import json,subprocess,sys
rows={r["revision"]:r for r in json.load(open(sys.argv[1]))}
first=subprocess.check_output(["git","rev-list","--max-parents=0","HEAD"],text=True).strip()
assert rows["'"$(revfull 1)"'"]["git"]==first, rows["'"$(revfull 1)"'"]
assert "git" not in rows["'"$(revfull 2)"'"] or rows["'"$(revfull 2)"'"]["git"]!=first, rows["'"$(revfull 2)"'"]' "$TRASH/.out"
run_q "quire log" 0 log
check "says it on the revision's line" grep -qE "^$(rev 1) .*, git $(git rev-list --max-parents=0 HEAD | cut -c1-12)$" "$TRASH/.out"

# A project made by quire 0.1 (format-1 manifests, tests/fixtures/store-v1), committed to
# git: the next run moves its history to format 2 and commits the packs, the format-1 files'
# removal and .quire/format; the log still names the commit that brought each revision in.
cp -R "$FIXTURES/store-v1" "$TRASH/old" && cd "$TRASH/old" && chmod -R u+w . || exit 1
git init -q . && g add -A && g commit -qm "quire 0.1's project"
first=$(git rev-parse HEAD)
run_q "an input changed" 0 edit --set Tone=bright
run_q "run --commit" 0 run --commit
is "the work tree is clean" "$(git status --porcelain)" ""
check "the packs committed, the new revisions' too" sh -c "test \$(git ls-files .quire/revs | wc -l) -eq 9"
check "with the store's format" sh -c "git ls-files | grep -qx .quire/format"
is "no format-1 manifest left in git" "$(git ls-files .quire/manifests | wc -l)" 0
run_q "quire log --json" 0 log --json
check "the first revision's commit is still the first" python3 -c '
import json,sys
rows=json.load(open(sys.argv[1]))
assert rows[-1]["git"]==sys.argv[2] and rows[0]["git"]!=sys.argv[2], rows' "$TRASH/.out" "$first"

# Outside a repository.
cd "$TRASH" && q init plain >/dev/null && cd plain || exit 1
run_q "run --commit outside git" 3 run --commit
check "says why" err_has "is not in a git repository"
check "the revision is kept" test -f $(pack 1)

# The calls pack is written in .quire/tmp while the revision is made, then moved into
# .quire/calls/: with .quire/tmp on another file system (where a rename cannot go), it is
# written in .quire/calls/ itself.
shm=/dev/shm/quire-t0460-$$
if mkdir -p "$shm" 2>/dev/null && [ "$(stat -c %d "$shm")" != "$(stat -c %d .quire)" ]; then
	rm -rf .quire/tmp && ln -s "$shm" .quire/tmp
	q edit --set Tone=eerie >/dev/null
	run_q "a run with .quire/tmp elsewhere" 0 run
	check "its calls pack is there" test -s ".quire/calls/$(cat .quire/current).jsonl"
	check "nothing pending left" test -z "$(ls -A "$shm" | grep calls)"
	rm -f .quire/tmp
else
	pass "# SKIP no second file system at /dev/shm"
fi
rm -rf "$shm"
done_testing
