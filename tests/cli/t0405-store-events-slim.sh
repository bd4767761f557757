#!/bin/bash
# A run's events name what changed, not the whole project (issue 17: quire.db grew by 1.9 MB
# per one-scene run at 10k): the start event lists only the files that differ from its
# parent's, and a collector's dependency record goes into its event as a delta of the one
# it replaces. What is committed is the same: after a normal commit, and after a run killed
# between the collector's event and the commit, recovered by the next run.
. "$(dirname "$0")/lib.sh"
mkdir c && cd c && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: wide
inputs:
  N: { type: int, default: 200, max: 100000 }
producers:
  Part:
    foreach: { i: N }
    role: part
    prompt: "prompts/part-{{i}}.md"
  Book:
    role: book
    prompt: prompts/book.md
    uses:
      - Part[*]
  Slow:
    role: slow
    prompt: prompts/slow.md
YAML
cat >quire.yaml <<'YAML'
quire: 1
jobs: 2
roles:
  part: { provider: mock, params: { mode: echo } }
  book: { provider: mock, params: { mode: echo } }
  slow: { provider: mock, params: { mode: echo, latency_ms: 20000 } }
YAML
echo "N: 200" >inputs.yaml
for i in $(seq 0 199); do echo "part $i" >"prompts/part-$i.md"; done
echo 'the book' >prompts/book.md
echo 'slow' >prompts/slow.md
# The events of run N (quire.db's row id) as "kind<TAB>bytes of data<TAB>data".
events() {
	python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(".quire/quire.db")
for kind, data in db.execute("SELECT kind, data FROM events WHERE run = ? ORDER BY seq", (int(sys.argv[1]),)):
    print("%s\t%d\t%s" % (kind, len(data or ""), data))
PY
}
QUIRE_MOCK_LATENCY_MS=0 run_q "a first build" 0 run
check "its start event lists every file (no parent)" \
	test "$(events 1 | grep -c '^run.start.*"files":{')" -eq 1
book_deps=$(entry current Book deps | wc -c)
check "the Book's record names every part ($book_deps bytes)" test "$book_deps" -gt 8000

echo "part 7, again" >prompts/part-7.md
QUIRE_MOCK_LATENCY_MS=0 run_q "one part's prompt changed" 0 run --json
is "makes that part and the Book" "$(count_events produced)" 2
start=$(events 2 | grep '^run.start')
check "the start event names the one file that changed" python3 -c '
import json, sys
d = json.loads(sys.argv[1].split("\t", 2)[2])
assert "files" not in d and list(d["files_changed"]) == ["prompts/part-7.md"], d' "$start"
book=$(events 2 | grep '^artefact.produced.*"producer":"Book"')
check "the Book's event holds its record as a delta (${book:18:6}... bytes)" python3 -c '
import json, sys
kind, n, text = sys.argv[1].split("\t", 2)
d = json.loads(text)
assert "deps" not in d and d["deps_delta"]["base"].startswith("sha256:"), d.keys()
assert int(n) < 2000, n' "$book"
run_q "the committed Book" 0 inspect Book --json
check "has its whole record" python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
deps = json.dumps(e.get("deps") or e["entry"]["deps"])
assert deps.count("Part[") == 200, deps[:200]' "$TRASH/.out"
run_q "plan" 0 plan --check
run_q "fsck" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"

# A prompt no longer read: the start event says so, and the revision's files lose it.
sed -i 's/default: 200/default: 199/' blueprint.yaml
echo "N: 199" >inputs.yaml
QUIRE_MOCK_LATENCY_MS=0 run_q "a part fewer" 0 run
start=$(events 3 | grep '^run.start')
check "the start event names the file no longer read" python3 -c '
import json, sys
d = json.loads(sys.argv[1].split("\t", 2)[2])
assert d["files_changed"].get("prompts/part-199.md", 0) is None, d["files_changed"]' "$start"
check "which the revision no longer lists" python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["files"]
assert "prompts/part-199.md" not in f and "prompts/part-198.md" in f and "blueprint.yaml" in f, sorted(f)[:5]' "$(current_json)"

# Killed after the Book's event, before the commit (Slow still running): the next run
# recovers the revision from the events, the record made whole from its delta.
echo "part 3, again" >prompts/part-3.md
echo 'slow, again' >prompts/slow.md
# kill_after ID: a run killed with SIGKILL once it has produced ID (Slow still running).
kill_after() {
	# Emptied here, not by the redirection in the background: the last kill's output (in
	# git too, for the clone) would be read before the new run truncates it, and it would
	# be killed before it started.
	: >killed.out
	"$QUIRE" run -j 2 --json >killed.out 2>killed.err &
	local pid=$!
	for _ in $(seq 200); do
		grep -q "\"produced\",\"id\":\"$1\"" killed.out && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
}
# Its twin, run to the end: what the recovery commits must be what it committed.
cp -r . "$TRASH/twin"
(cd "$TRASH/twin" && QUIRE_MOCK_LATENCY_MS=0 "$QUIRE" run >/dev/null 2>&1)
kill_after Book
check "the Book was made before the kill" grep -q '"produced","id":"Book"' killed.out
check "the killed run's Book event is a delta" test "$(events 4 | grep -c '"deps_delta"')" -eq 1
QUIRE_MOCK_LATENCY_MS=0 run_q "the next run" 0 run --json
check "recovers the killed run" python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
assert rows[1].get("recovered") is True and rows[0].get("parent") == rows[1]["revision"], rows[:2]' "$(q inspect --log --json >"$TRASH/log.json"; echo "$TRASH/log.json")"
is "makes only Slow again" "$(event_ids produced)" "Slow"
q inspect --revision current~1 --json >"$TRASH/recovered.json"
(cd "$TRASH/twin" && "$QUIRE" inspect --json >"$TRASH/twin.json")
check "the recovered revision holds what its twin's run committed" python3 - "$TRASH" <<'PY'
import json, sys
t = sys.argv[1]
a, b = (json.load(open("%s/%s.json" % (t, n))) for n in ("recovered", "twin"))
assert a["files"] == b["files"], "files differ"
for i in b["artefacts"]:
    if i == "Slow":
        continue
    for k in ("deps", "fingerprint", "digest", "status"):
        assert a["artefacts"][i].get(k) == b["artefacts"][i].get(k), (i, k)
PY
run_q "the recovered revision's Book" 0 inspect --revision current~1 --json
check "has its whole record, of the new part" python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["artefacts"]["Book"]
deps = json.dumps(e["deps"])
assert deps.count("Part[") == 199, deps[:200]' "$TRASH/.out"
check "and every file" python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["files"]
assert len(f) >= 201 and "prompts/part-3.md" in f, len(f)' "$TRASH/.out"
run_q "fsck after it" 0 fsck
check "finds nothing damaged" out_has "nothing is damaged"
# The record a killed run's delta was made against, lost from the packs before the recovery:
# the recovery stops and says what to restore (committing the entry without its record would
# lose it for good); restored, the next run recovers the run whole.
fp=$(entry current Book fingerprint)
echo "part 4, again" >prompts/part-4.md
echo 'slow, once more' >prompts/slow.md
kill_after Book
cp -r .quire/revs "$TRASH/revs-saved"
drop_object "$fp"
QUIRE_MOCK_LATENCY_MS=0 run_q "a run whose recovery needs the lost record" 5 run
check "says which record and what to do" err_has "the dependency record of Book is a delta of record ${fp:0:19}, which cannot be read"
check "and how to restore it" err_has "restore the packs from git, 'git checkout -- .quire/revs/', and run again"
rm -rf .quire/revs && cp -r "$TRASH/revs-saved" .quire/revs
QUIRE_MOCK_LATENCY_MS=0 run_q "restored, the next run" 0 run --json
is "recovers the run and makes only Slow" "$(event_ids produced)" "Slow"
run_q "fsck" 0 fsck
check "finds every record" out_has "nothing is damaged"

# A clone's first run stores the snapshot of every file it reads, though only a few changed:
# recovery checks each one this run stored (a torn write of one is found and removed, and
# the next run stores it again), not only those the start event names as changed.
python3 -c "print('big ' * 3000)" >prompts/part-10.md
QUIRE_MOCK_LATENCY_MS=0 run_q "a prompt of 12 KB" 0 run
printf '.quire/quire.db\n.quire/quire.db-*\n.quire/blobs/\n.quire/runs/\n.quire/tmp/\n.quire/lock\nout/\n' >.gitignore
git init -q . && git add -A && git -c user.email=t@t -c user.name=t commit -qm project || exit 1
cd "$TRASH" && git clone -q c c2 && cd c2 || exit 1
echo "part 5, in the clone" >prompts/part-5.md
echo 'slow, in the clone' >prompts/slow.md
kill_after Book
big=$(sha256sum prompts/part-10.md | cut -d' ' -f1)
check "the clone's run stored the big prompt's snapshot" blob_has "$big"
blob_damage "$big" "torn"
QUIRE_MOCK_LATENCY_MS=0 run_q "the next run" 0 run
run_q "fsck" 0 fsck
check "finds nothing damaged: the torn snapshot was found and stored again" out_has "nothing is damaged"

# An input named as the events' keys is only an input.
cd "$TRASH" && mkdir k && cd k && mkdir prompts || exit 1
cat >blueprint.yaml <<'YAML'
blueprint: keys
inputs:
  files_changed: { type: text, default: "a" }
  deps_delta: { type: text, default: "b" }
producers:
  Fast:
    role: fast
    prompt: prompts/fast.md
    uses: [files_changed, deps_delta]
  Slow:
    role: slow
    prompt: prompts/slow.md
YAML
cat >quire.yaml <<'YAML'
quire: 1
jobs: 2
roles:
  fast: { provider: mock, params: { mode: echo } }
  slow: { provider: mock, params: { mode: echo, latency_ms: 20000 } }
YAML
printf 'files_changed: one\ndeps_delta: two\n' >inputs.yaml
echo '{{files_changed}} {{deps_delta}}' >prompts/fast.md
echo 'slow' >prompts/slow.md
kill_after Fast
QUIRE_MOCK_LATENCY_MS=0 run_q "a first build killed, then a run" 0 run --json
is "recovers it and makes only Slow" "$(event_ids produced)" "Slow"
QUIRE_MOCK_LATENCY_MS=0 run_q "and the next" 0 run
done_testing
