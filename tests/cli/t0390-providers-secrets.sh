#!/bin/bash
# providers --available (built-ins, plugin modules, programs on PATH; anywhere) and quire secret
# (set from stdin without echo, list names only, the file kept private).
. "$(dirname "$0")/lib.sh"
export QUIRE_SECRETS_FILE="$TRASH/conf/quire/secrets"
cd "$TRASH" || exit 1
run_q "providers --available outside a project" 0 providers --available
check "the built-ins" out_has "openai       built-in"
check "mock too" out_has "mock         built-in"
mkdir -p bin
printf '#!/bin/sh\nexit 0\n' >bin/quire-provider-shout
chmod +x bin/quire-provider-shout
printf '#!/bin/sh\n' >bin/quire-provider-mute # not executable: not a provider
PATH="$TRASH/bin:$PATH" QUIRE_PLUGIN_PATH="$QUIRE_TEST_PLUGINS" run_q "with plugins and a program" 0 providers --available --json
check "a plugin module, a program, not the file that cannot run" python3 -c '
import json,sys; a={p["name"]:p for p in json.load(open(sys.argv[1]))}
assert a["upper"]["kind"]=="module" and a["upper"]["path"].endswith("quire-provider-upper.so"), a
assert a["shout"]["kind"]=="program" and "mute" not in a and a["exec"]["kind"]=="built-in", a' "$TRASH/.out"
run_q "providers without --available outside a project" 3 providers
check "points to --available" err_has "'quire providers --available' lists"
run_q "--available with --check is a usage error" 2 providers --available --check

run_q "secret set from stdin" 0 secret set OPENAI_API_KEY <<<"sk-test-quire-7a1b2c3d4e5f"
check "the file is private" test "$(stat -c %a "$QUIRE_SECRETS_FILE")" = 600
check "its directory too" test "$(stat -c %a "$TRASH/conf/quire")" = 700
check "the value is not printed" out_lacks "sk-test-quire"
check "nor on stderr" err_lacks "sk-test-quire"
printf '# my keys\nREPLICATE_API_TOKEN=r8_keep_me_12345\n' >>"$QUIRE_SECRETS_FILE"
run_q "set again replaces the value" 0 secret set OPENAI_API_KEY <<<"sk-test-quire-second-9f8e7d"
check "one line for it, the new value" test "$(grep -c '^OPENAI_API_KEY=sk-test-quire-second-9f8e7d$' "$QUIRE_SECRETS_FILE")" = 1
check "the old value is gone" test -z "$(grep 7a1b2c3d "$QUIRE_SECRETS_FILE")"
check "other lines kept, comments too" grep -q '^# my keys$' "$QUIRE_SECRETS_FILE"
run_q "secret list" 0 secret list
is "names only" "$(cat "$TRASH/.out" | tr '\n' ' ')" "REPLICATE_API_TOKEN OPENAI_API_KEY "
check "never values" out_lacks "r8_keep_me"
printf '\nsk-bare-line-quire-424242\n' >>"$QUIRE_SECRETS_FILE"
run_q "a line that is only a value" 0 secret list
check "is never listed as a name" out_lacks "sk-bare-line"
sed -i '/sk-bare-line/d' "$QUIRE_SECRETS_FILE"
head -c 9000 /dev/zero | tr '\0' a >"$TRASH/long"
run_q "a value longer than 8 KiB" 2 secret set LONG_KEY <"$TRASH/long"
check "is refused, not cut short" test -z "$(grep LONG_KEY "$QUIRE_SECRETS_FILE")"
run_q "secret list --json" 0 secret list --json
is "a JSON array of names" "$(cat "$TRASH/.out")" '["REPLICATE_API_TOKEN","OPENAI_API_KEY"]'
run_q "a name that is no variable's" 3 secret set 'my key' <<<"x-value-1234"
run_q "an empty value" 3 secret set EMPTY_KEY <<<""
run_q "no value at all" 2 secret set EMPTY_KEY </dev/null
chmod 644 "$QUIRE_SECRETS_FILE"
run_q "a file others may read is refused" 3 secret set OPENAI_API_KEY <<<"sk-test-quire-third-000000"
check "naming its mode, not its content" err_has "has mode 644"
check "and the file was left alone" grep -q "second-9f8e7d" "$QUIRE_SECRETS_FILE"
chmod 600 "$QUIRE_SECRETS_FILE"
run_q "secret path" 0 secret path
is "the file" "$(cat "$TRASH/.out")" "$QUIRE_SECRETS_FILE"

# On a terminal it asks, without echoing what is typed.
(sleep 1; printf 'sk-typed-quire-5c6d7e8f9a\n') | script -qec "$QUIRE secret set TYPED_KEY" /dev/null >"$TRASH/tty.out" 2>&1
check "it asked" grep -q "TYPED_KEY: " "$TRASH/tty.out"
check "the typed key was not echoed" test -z "$(grep sk-typed "$TRASH/tty.out")"
check "and was stored" grep -q '^TYPED_KEY=sk-typed-quire-5c6d7e8f9a$' "$QUIRE_SECRETS_FILE"

new_story s
run_q "in a project, providers lists the roles as before" 0 providers
check "the writer role" out_has "writer"
done_testing
