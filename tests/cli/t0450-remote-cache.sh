#!/bin/bash
# A shared cache on an existing server (a real nginx with a WebDAV location): what one
# project makes is put there, output and call record first, the action result last; another
# project (a collaborator, CI) that would make the same takes it from there and calls no
# provider. A damaged copy is not used and is said to be; an unreachable cache is said once
# and the run goes on; credentials never go in quire.yaml; --no-remote leaves it alone; a
# directory (file://) serves the same way.
. "$(dirname "$0")/lib.sh"
start_nginx_dav
use_cache() { printf 'cache: { remote: "%s" }\n' "$1" >>quire.yaml; }

q init a >/dev/null && cd a && use_cache "$NGINX_URL" || exit 1
run_q "a first project's run" 0 run --json
is "makes everything" "$(count_events produced)" 14
is "and puts every result in the shared cache" "$(find "$NGINX_DATA/ac" -type f | wc -l)" 14
check "with every output" python3 -c '
import json,os,sys
m=json.load(open("'"$(revjson 1)"'"))
for e in m["artefacts"].values():
    assert os.path.isfile(os.path.join(sys.argv[1], "cas", e["digest"][7:])), e["digest"]' "$NGINX_DATA"

cd "$TRASH" && q init b >/dev/null && cd b && use_cache "$NGINX_URL" || exit 1
# Any provider call would fail: the mock is told to fail every instance.
QUIRE_MOCK_FAIL='*' run_q "another project that would make the same" 0 run --json
is "makes nothing" "$(count_events produced)" 0
is "takes all fourteen from the shared cache" "$(count_events cached)" 14
check "the same book" cmp -s out/Book.md ../a/out/Book.md
run_q "inspect says where it came from" 0 inspect 'Chapter[1]' --json
check "cached from the remote" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d.get("cached_from")=="remote", d' "$TRASH/.out"
run_q "and shows the prompt it was made from" 0 inspect 'Chapter[1]' --prompt
check "the chapter's prompt" out_has 'Write chapter 2'

# A damaged copy in the cache is a miss, said to be.
d=$(cd "$TRASH/a" && entry "$(revfull 1)" 'Chapter[0]' digest | cut -c8-)
echo "poisoned" >"$NGINX_DATA/cas/$d"
cd "$TRASH" && q init c >/dev/null && cd c && use_cache "$NGINX_URL" || exit 1
run_q "a project meeting a damaged copy" 0 run --json
check "makes that one itself" sh -c "grep -q '\"event\":\"produced\",\"id\":\"Chapter\\[0\\]\"' '$TRASH/.out'"
check "says the copy is damaged" grep -q '"event":"warning".*is damaged' "$TRASH/.out"
check "takes the rest" test "$(count_events cached)" -ge 12
check "and mends the damaged copy with the output it made" \
	sh -c "test \"\$(sha256sum '$NGINX_DATA/cas/$d' | cut -c1-64)\" = '$d'"

# An entry in the cache is trusted for its output, checked, and nothing else: what it says
# it cost, its usage, a review or an acceptance are not another store's to say.
fp=$(cd "$TRASH/a" && entry "$(revfull 1)" 'Chapter[1]' fingerprint | cut -c8-)
python3 - "$NGINX_DATA/ac/$fp" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e.update({"size": 123456789, "cost_micro": 5000000000, "review_required": True,
          "accepted": True, "error": "boom", "usage": {"tokens_in": 1.5}})
json.dump(e, open(sys.argv[1], "w"))
PY
cd "$TRASH" && q init k >/dev/null && cd k && use_cache "$NGINX_URL" || exit 1
QUIRE_MOCK_FAIL='*' run_q "a project meeting an entry that says more" 0 run --json
is "takes all fourteen" "$(count_events cached)" 14
check "records the output as it is, clean, costing nothing here" python3 -c '
import json,os
m=json.load(open("'"$(revjson 1)"'")); e=m["artefacts"]["Chapter[1]"]
assert e["status"]=="clean" and e["size"]==os.path.getsize("out/Chapter-1.md"), e
assert "error" not in e and not e.get("accepted") and not e.get("cost_micro"), e
assert m["counts"].get("cost_micro",0)==0 and not m["counts"].get("accepted"), m["counts"]'

# push: false reads without writing (and QUIRE_CACHE_PUSH=false likewise).
cd "$TRASH" && q init l >/dev/null && cd l || exit 1
printf 'cache: { remote: "%s", push: false }\n' "$NGINX_URL" >>quire.yaml
run_q "an input changed" 0 edit --set Tone=eerie
before=$(find "$NGINX_DATA/ac" -type f | wc -l)
run_q "a run with push: false" 0 run
is "puts nothing" "$(find "$NGINX_DATA/ac" -type f | wc -l)" "$before"
run_q "another input changed" 0 edit --set Tone=bright
QUIRE_CACHE_PUSH=false run_q "QUIRE_CACHE_PUSH=false" 0 run
is "puts nothing either" "$(find "$NGINX_DATA/ac" -type f | wc -l)" "$before"

# Unreachable: said once, and the run goes on.
cd "$TRASH" && q init d >/dev/null && cd d && use_cache "http://127.0.0.1:1" || exit 1
run_q "a run with the cache unreachable" 0 run
is "said once" "$(grep -c 'warning: the remote cache' "$TRASH/.err")" 1
check "makes everything itself" out_has "14 produced"

# --no-remote: nothing asked (with every provider call failing, nothing can be had).
cd "$TRASH" && q init e >/dev/null && cd e && use_cache "$NGINX_URL" || exit 1
QUIRE_MOCK_FAIL='*' run_q "run --no-remote" 1 run --no-remote --json
is "nothing cached" "$(count_events cached)" 0

# Credentials belong in the environment, not in the committed quire.yaml.
cd "$TRASH" && q init f >/dev/null && cd f && use_cache "http://writer:hunter2secret@127.0.0.1:1/" || exit 1
run_q "a URL with a password" 3 plan
check "is refused, pointing to the environment" err_has "QUIRE_CACHE_AUTH"
check "never echoed" err_lacks "hunter2secret"

# A directory serves the same way (a shared mount), named by an absolute path.
cd "$TRASH" && q init g >/dev/null && cd g || exit 1
QUIRE_REMOTE_CACHE="file://relative/dir" run_q "a relative file:// URL" 3 run
check "is refused" err_has "needs an absolute path"
QUIRE_REMOTE_CACHE="file://$TRASH/shared" run_q "a run into a directory cache" 0 run --json
is "makes everything" "$(count_events produced)" 14
cd "$TRASH" && q init h >/dev/null && cd h || exit 1
QUIRE_MOCK_FAIL='*' QUIRE_REMOTE_CACHE="file://localhost$TRASH/shared" run_q "another from it" 0 run --json
is "takes everything" "$(count_events cached)" 14
done_testing
