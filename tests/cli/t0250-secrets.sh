#!/bin/bash
# Secrets: from the environment or a 0600 secrets file; a group-readable file is refused; a
# live run without a needed secret fails before anything is written; never printed.
. "$(dirname "$0")/lib.sh"
new_story s
# The replicate provider needs a token: bind a role to it (it is never called here).
sed -i 's/^  assemble:$/  assemble:\n    provider: replicate\n    model: some\/model\n  unused_assemble:/' quire.yaml
python3 - <<'PY'
import re
s=open("quire.yaml").read()
s=re.sub(r"  unused_assemble:\n(    .*\n)+", "", s)
open("quire.yaml","w").write(s)
PY
unset REPLICATE_API_TOKEN
export QUIRE_SECRETS_FILE="$TRASH/secrets"
run_q "plan does not need secrets" 0 plan
run_q "providers reports the missing secret" 1 providers
check "by name" out_has "secret REPLICATE_API_TOKEN: missing"
run_q "a live run without the secret fails at once" 3 run
check "saying which and where to put it" err_has "needs the secret REPLICATE_API_TOKEN"
check "nothing was written" test ! -e .quire

printf 'REPLICATE_API_TOKEN=r8_filetoken_93af\n' >"$TRASH/secrets"
chmod 644 "$TRASH/secrets"
run_q "a secrets file readable by others is refused" 1 providers
check "with its mode" out_has "has mode 644"
check "without its content" sh -c "! grep -q r8_filetoken_93af '$TRASH/.out' '$TRASH/.err'"
chmod 600 "$TRASH/secrets"
run_q "a private secrets file is used" 0 providers
check "the source is the file" out_has "secret REPLICATE_API_TOKEN: present"
run_q "providers --json names the file, not the value" 0 providers --json
check "no value in the JSON" sh -c "! grep -q r8_filetoken_93af '$TRASH/.out'"
check "the source is given" out_has "$TRASH/secrets"
REPLICATE_API_TOKEN=r8_envtoken_51bc run_q "the environment wins over the file" 0 providers --json
check "source environment" out_has '"secret_source":"environment"'
check "no secret in any output or project file" sh -c "! grep -rq -e r8_envtoken_51bc -e r8_filetoken_93af '$TRASH/s' '$TRASH/.out' '$TRASH/.err'"
done_testing
