#!/bin/bash
# The shared cache as bazel-remote serves it (a fake that holds quire to bazel-remote's HTTP
# protocol: paths under an instance prefix, a PUT to /cas must hash to its name, nothing
# listed or deleted, HTTP Basic credentials): credentials from the secrets file, never
# written anywhere; without them, a 401 said once; quire push and quire pull move a
# revision's blobs explicitly, each verified, and name what could not be moved.
. "$(dirname "$0")/lib.sh"
pw="s3cret-Cache-Passw0rd"
start_fake_bazel --auth "writer:$pw" --prefix story
g() { git -c user.email=w@example.org -c user.name=Writer "$@"; }
use_cache() { printf 'cache: { remote: "%s/story" }\n' "$BZ" >>quire.yaml; }
export QUIRE_SECRETS_FILE="$TRASH/secrets"
printf 'QUIRE_CACHE_AUTH=writer:%s\n' "$pw" >"$QUIRE_SECRETS_FILE" && chmod 600 "$QUIRE_SECRETS_FILE"

q init a >/dev/null && cd a && use_cache || exit 1
run_q "a run with the credentials in the secrets file" 0 run --json
is "nothing refused" "$(bz_stats 's["unauthorized"]')" 0
is "no request outside the protocol" "$(bz_stats 's["bad"]')" "[]"
is "a result for every output" "$(bz_stats 's["counts"].get("PUT ac", 0)')" 14
check "every blob checked with a HEAD" test "$(bz_stats 's["counts"].get("HEAD cas", 0)')" -ge 14
check "the password is in no file quire wrote" sh -c "! grep -rqF '$pw' .quire out"

cd "$TRASH" && q init b >/dev/null && cd b && use_cache || exit 1
: >"$TRASH/none" && chmod 600 "$TRASH/none"
QUIRE_SECRETS_FILE="$TRASH/none" run_q "without credentials" 0 run
is "the refusal said once" "$(grep -c 'warning: the remote cache' "$TRASH/.err")" 1
check "naming the status" err_has "answered 401"
check "and the run went on" out_has "14 produced"
cd "$TRASH" && q init c >/dev/null && cd c && use_cache || exit 1
QUIRE_MOCK_FAIL='*' run_q "with them, another project" 0 run --json
is "takes all fourteen" "$(count_events cached)" 14

# quire push: outputs made with the cache off go up when asked.
cd "$TRASH" && q init d >/dev/null && cd d || exit 1
printf 'cache: { remote: "%s/story", push: false }\n' "$BZ" >>quire.yaml
run_q "a new tone" 0 edit --set Tone=wry
g init -q . && run_q "a run with push: false" 0 run
puts=$(bz_stats 's["counts"].get("PUT ac", 0)')
run_q "run --regenerate makes a second take" 0 run --regenerate 'Chapter[1]'
echo "Written by hand." >"$TRASH/scene.md"
run_q "a hand edit" 0 edit 'Scene[0][0]' --file "$TRASH/scene.md"
run_q "the book from it" 0 run
g add -A && g commit -qm "wry"
is "nothing was put" "$(bz_stats 's["counts"].get("PUT ac", 0)')" "$puts"
run_q "quire push" 0 push
check "says what it moved" grep -qE '^push: '"$(rev 5)"': [0-9]+ blobs, [0-9]+ uploaded, [0-9]+ already there; [0-9]+ results$' "$TRASH/.out"
check "a result for each generated output, none for the hand edit" python3 -c '
import json,sys,urllib.request
s=json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))
m=json.load(open("'"$(revjson 5)"'"))["artefacts"]
for id,e in m.items():
    fp=e["fingerprint"][7:]
    if id=="Scene[0][0]":
        assert e["status"]=="user-edited", e["status"]
        assert fp not in s["ac"] or json.loads(s["ac"][fp])["digest"]!=e["digest"], "hand edit pushed"
    else:
        assert json.loads(s["ac"][fp])["digest"]==e["digest"], id' "$BZ_PORT"
run_q "push --all" 0 push --all --json
check "every revision, the earlier take too" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert sorted(d["revisions"])==sorted(["'"$(revfull 1)"'","'"$(revfull 2)"'","'"$(revfull 3)"'","'"$(revfull 4)"'","'"$(revfull 5)"'"]) and d["missing"]==[], d
assert d["results"]>14 and d["there"]>0, d' "$TRASH/.out"
is "still nothing outside the protocol" "$(bz_stats 's["bad"]')" "[]"

# An output accepted with run --touch was not made for its new fingerprint: never shared as
# if it were, also once it is shown again as a take.
cd "$TRASH" && q init t >/dev/null && cd t || exit 1
printf 'cache: { remote: "%s/story", push: false }\n' "$BZ" >>quire.yaml
run_q "a run" 0 run
echo "Write it in the present tense." >>prompts/chapter.md
run_q "a prompt change accepted without regenerating" 0 run --touch 'Chapter[0]'
run_q "then a new take" 0 run --regenerate 'Chapter[0]'
run_q "and the accepted one shown again" 0 edit 'Chapter[0]' --take 0
run_q "push" 0 push
check "no result names the accepted output under the new fingerprint" python3 -c '
import json,sys,urllib.request
s=json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))
e=json.load(open("'"$(current_json)"'"))["artefacts"]["Chapter[0]"]
assert e.get("accepted"), e
r=s["ac"].get(e["fingerprint"][7:])
assert r is None or json.loads(r)["digest"]!=e["digest"], r' "$BZ_PORT"

# quire pull: a clone without out/ gets the revision's blobs, and pays for nothing.
cd "$TRASH" && git clone -q d e && cd e || exit 1
rm -rf out
run_q "quire pull" 0 pull --json
check "fetches every blob, verified" python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["missing"]==[] and d["fetched"]>0 and d["fetched"]+d["there"]==d["blobs"], d' "$TRASH/.out"
QUIRE_NO_REMOTE=1 run_q "plan, asking no cache" 0 plan
check "has every output" out_has "plan: nothing to do"
QUIRE_MOCK_FAIL='*' QUIRE_NO_REMOTE=1 run_q "run" 0 run
check "writes out/ without a provider call" test -f out/Book.md
run_q "the hand edit is back too" 0 show 'Scene[0][0]'
check "as written" out_has "Written by hand."
QUIRE_NO_REMOTE=1 run_q "rewind, without the cache, to a revision whose outputs no commit holds" 3 rewind $(rev 2) --yes
check "points to push" err_has "'quire push $(rev 2)' there"
run_q "with the cache, the rewind" 0 rewind $(rev 2) --yes
check "took what git lacks from the cache" out_has "(equal to $(rev 2))"
QUIRE_NO_REMOTE=1 run_q "plan after it" 0 plan
check "needs nothing" out_has "plan: nothing to do"

# A clone whose inputs changed does not fetch the outputs it is about to make again.
cd "$TRASH" && git clone -q d g && cd g || exit 1
rm -rf out
sed -i 's/^Tone: .*/Tone: bright/' inputs.yaml
gets=$(bz_stats 's["counts"].get("GET cas", 0)')
run_q "a run after the tone changed" 0 run --json
is "fetched only the hand edit, no output it then made again" "$(bz_stats 's["counts"].get("GET cas", 0)')" "$((gets + 1))"
check "made all the rest" test "$(count_events produced)" -eq 13

# Ctrl-C while a run takes outputs from a slow cache stops it at once.
bz_main=$BZ_PORT bz_main_pid=$bazel
start_fake_bazel --auth "writer:$pw" --prefix story --latency-ms 1500
slow=$BZ slow_pid=$bazel
BZ_PORT=$bz_main bazel=$bz_main_pid
(cd "$TRASH/d" && QUIRE_REMOTE_CACHE="$slow/story" "$QUIRE" push >/dev/null 2>&1)
cd "$TRASH" && git clone -q d h && cd h || exit 1
rm -rf out
QUIRE_CACHE_CONNECTIONS=1 QUIRE_REMOTE_CACHE="$slow/story" "$QUIRE" run >"$TRASH/slow.out" 2>"$TRASH/slow.err" &
runner=$!
sleep 2
interrupt "$runner" 5 "a run restoring from a slow cache"
kill -9 "$slow_pid" 2>/dev/null

# A busy server (503 now and then) is asked again, not given up.
start_fake_bazel --busy-every 4
busy=$BZ busy_port=$BZ_PORT busy_pid=$bazel
BZ_PORT=$bz_main bazel=$bz_main_pid
cd "$TRASH/d" || exit 1
QUIRE_REMOTE_CACHE="$busy" run_q "push to a busy cache" 0 push
check "moved everything" grep -qE '^push: '"$(rev 5)"': [0-9]+ blobs, [0-9]+ uploaded, 0 already there; [0-9]+ results$' "$TRASH/.out"
check "though it was refused now and then" python3 -c '
import json,sys,urllib.request
s=json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))
assert s["counts"].get("busy",0)>5 and s["bad"]==[], s["counts"]' "$busy_port"
kill -9 "$busy_pid" 2>/dev/null

# What the cache lacks or holds damaged is named, not taken.
cd "$TRASH" && git clone -q d f && cd f || exit 1
rm -rf out
d1=$(python3 -c 'import json; print(json.load(open("'"$(revjson 5)"'"))["artefacts"]["Chapter[2]"]["digest"][7:])')
d2=$(python3 -c 'import json; print(json.load(open("'"$(revjson 5)"'"))["artefacts"]["Outline"]["digest"][7:])')
bz_control drop "$d1"
bz_control poison "$d2"
run_q "a pull missing one and meeting a damaged one" 1 pull
check "names the missing one" grep -qE "^  sha256:${d1:0:12}\.\.\.  the output of Chapter\[2\] in $(rev 5): not in the remote cache$" "$TRASH/.out"
check "and the damaged one" grep -qE "^  sha256:${d2:0:12}\.\.\.  the output of Outline in $(rev 5): damaged in the remote cache" "$TRASH/.out"
blob_has "$d2"
is "keeps no damaged copy" "$?" 1

# A rewind that needs the cache says when it could not ask it.
QUIRE_REMOTE_CACHE=http://127.0.0.1:1 run_q "rewind --preview with the cache unreachable" 0 rewind $(rev 2) --preview
check "says the cache could not be asked" err_has "the shared cache could not be asked"
QUIRE_REMOTE_CACHE=http://127.0.0.1:1 run_q "the rewind" 3 rewind $(rev 2) --yes
check "refuses, naming why the cache had nothing" err_has "its shared cache could not be asked"

# No cache, a bad revision, the wrong credentials.
run_q "pull with an unknown option" 2 pull --no-such
QUIRE_NO_REMOTE=1 run_q "pull with the cache off" 3 pull
check "says there is none" err_has "no shared cache to pull from"
run_q "push of a revision that does not exist" 3 push rev-0099
run_q "push --all with a revision" 2 push --all $(rev 1)
printf 'QUIRE_CACHE_AUTH=writer:wrong-password-here\n' >"$TRASH/wrong" && chmod 600 "$TRASH/wrong"
QUIRE_SECRETS_FILE="$TRASH/wrong" run_q "push with the wrong password" 1 push
check "says the cache refused" err_has "answered 401"
check "never echoes a password" sh -c "! grep -qF -e wrong-password-here -e '$pw' '$TRASH/.out' '$TRASH/.err'"
done_testing
