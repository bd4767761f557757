#!/bin/bash
# A collector whose template shows its inputs whole (the Book of every scene) keeps its last
# rendering by ranges: when one scene changes, the Book's prompt is the kept one with that
# scene's range replaced, byte for byte what a whole rendering gives, without reading the
# other scenes again. Anything else (another skeleton, a damaged or missing copy, a template
# that reads fields or conditions) is rendered whole.
. "$(dirname "$0")/lib.sh"
new_scenes_book p 300
echo "Title: The Long Night" >inputs.yaml
printf '# {{Title}}\n\n{{Scene[*] | join "\\n---\\n"}}\nThe end of {{Title}}.\n' >prompts/book.md
# What a whole rendering gives: the scenes' outputs as they are in out/.
expect() {
	printf '# %s\n\n' "$1"
	for i in $(seq 0 299); do
		[ "$i" -gt 0 ] && printf '\n---\n'
		cat "out/Scene-$i.md"
	done
	printf '\nThe end of %s.\n' "$1"
}
run_q "a first build" 0 run
check "the Book is every scene, in order" cmp out/Book.md <(expect "The Long Night")
check "its rendering is kept by ranges" test -n "$(ls .quire/runs/splice-* 2>/dev/null)"

echo "scene 7, again" >prompts/scene-7.md
# Every other scene's stored output damaged: a rendering that read them would fail.
python3 - "$(revjson 1)" <<'PY' || exit 2
import json, os, sqlite3, sys
arts = json.load(open(sys.argv[1]))["artefacts"]
db = sqlite3.connect(".quire/blobs/pack.db", timeout=30)
n = 0
for i in range(300):
    if i == 7:
        continue
    h = arts["Scene[%d]" % i]["digest"].split(":")[1]
    f = os.path.join(".quire/blobs/sha256", h[:2], h)
    if os.path.exists(f):
        os.chmod(f, 0o644); open(f, "w").write("damaged"); n += 1
    else:
        n += db.execute("UPDATE blob SET data = CAST('damaged' AS BLOB) WHERE d = ?",
                        (bytes.fromhex(h),)).rowcount
db.commit()
sys.exit(0 if n == 299 else 1)
PY
run_q "one scene changed" 0 run --json
is "two steps ran" "$(count_events produced)" 2
check "the Book has the new scene in its place, the rest as they were" \
	cmp out/Book.md <(expect "The Long Night")

echo "Title: Another Night" >inputs.yaml
run_q "the Title changed: another skeleton, rendered whole" 5 run --json
check "which reads the damaged outputs, and says so" grep -q '"id":"Book".*damaged' "$TRASH/.out"
run_q "fsck --repair removes them" 0 fsck --repair
run_q "the next run makes them again, and the Book" 0 run --json
check "the Book is right" cmp out/Book.md <(expect "Another Night")

# The kept copy damaged where no digest covers it: two ranges' lengths moved by 5 bytes (the
# text and its digest intact), so the ranges would take bytes of their neighbours.
python3 - .quire/runs/splice-* <<'PY' || exit 2
import sys
for f in sys.argv[1:]:
    b = open(f, "rb").read()
    lines = b.split(b"\n")
    l1, d1 = lines[1].split(b"\t")
    l2, d2 = lines[2].split(b"\t")
    lines[1] = b"%d\t%s" % (int(l1) - 5, d1)
    lines[2] = b"%d\t%s" % (int(l2) + 5, d2)
    open(f, "wb").write(b"\n".join(lines))
PY
echo "scene 8, again" >prompts/scene-8.md
run_q "a damaged kept copy is not trusted" 0 run
check "the Book is still right" cmp out/Book.md <(expect "Another Night")
rm -f .quire/runs/splice-*
echo "scene 9, again" >prompts/scene-9.md
run_q "nor is a missing one needed" 0 run
check "right again" cmp out/Book.md <(expect "Another Night")

# A scene's recorded size is a hint for the Book's buffer, not trusted: a terabyte in the
# head's index (a damaged row) must not make the run ask for that much memory.
python3 - .quire/runs/*-index.tsv <<'PY' || exit 2
import sys
n = 0
for f in sys.argv[1:]:
    lines = open(f).read().split("\n")
    for k, l in enumerate(lines):
        c = l.split("\t")
        if c[0] == "Scene[3]" and len(c) > 7:
            c[7] = "1000000000000"; lines[k] = "\t".join(c); n += 1
    open(f, "w").write("\n".join(lines))
sys.exit(0 if n else 1)
PY
echo "scene 10, again" >prompts/scene-10.md
run_q "a damaged size in the index" 0 run
check "the Book is right with it" cmp out/Book.md <(expect "Another Night")

printf '{{#if Scene[0]}}# {{Title}}{{/if}}\n{{Scene[*]}}\n' >prompts/book.md
rm -f .quire/runs/splice-*
run_q "a template with a condition on a scene" 0 run
check "is rendered whole, not kept" test -z "$(ls .quire/runs/splice-* 2>/dev/null)"
done_testing
