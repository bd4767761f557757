#!/bin/bash
# The shared cache as bazel-remote serves it (a fake that holds quire to bazel-remote's HTTP
# protocol: paths under an instance prefix, a PUT to /cas must hash to its name, nothing
# listed or deleted, HTTP Basic credentials): credentials from the secrets file, never
# written anywhere; without them, a 401 said once.
. "$(dirname "$0")/lib.sh"
pw="s3cret-Cache-Passw0rd"
start_fake_bazel --auth "writer:$pw" --prefix story
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

done_testing
