#!/bin/bash
# Shared-module providers: found on QUIRE_PLUGIN_PATH, loaded with dlopen; a module built for
# another ABI version is refused with a clear message.
. "$(dirname "$0")/lib.sh"
: "${QUIRE_TEST_PLUGINS:?}"
mkdir p && cd p && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: plug
inputs:
  Name: { type: text, default: "ada" }
producers:
  Greeting:
    role: shouter
    prompt: prompts/greet.md
    uses: [Name]
  Card:
    role: shouter
    prompt: prompts/card.md
    uses: [Greeting]
YAML
printf 'quire: 1\nroles:\n  shouter: { provider: upper }\n' >quire.yaml
echo "Name: ada" >inputs.yaml
echo 'hello, {{Name}}!' >prompts/greet.md
echo 'card: {{Greeting}}' >prompts/card.md
unset QUIRE_PLUGIN_PATH
run_q "without the plugin path the provider is unknown" 3 plan
check "the message says where it looked" err_has "no quire-provider-upper.so on QUIRE_PLUGIN_PATH"
export QUIRE_PLUGIN_PATH="/nonexistent:$QUIRE_TEST_PLUGINS"
run_q "providers lists the module" 0 providers
check "by its path" out_has "$QUIRE_TEST_PLUGINS/quire-provider-upper.so"
run_q "a run through the plugin" 0 run --json
is "the module made the greeting" "$(cat out/Greeting.md)" "HELLO, ADA!"
is "and the card from it" "$(cat out/Card.md)" "CARD: HELLO, ADA!"
run_q "inspect shows the module's provenance" 0 inspect --json Card
check "meta from the module" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["meta"]=={"plugin":"upper"}' "$TRASH/.out"
printf 'quire: 1\nroles:\n  shouter: { provider: oldabi }\n' >quire.yaml
run_q "a module for another ABI is refused" 3 run
check "naming the versions" err_has "was built for ABI version 100, this quire speaks 2 to 3"
done_testing
