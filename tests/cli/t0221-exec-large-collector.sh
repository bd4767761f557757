#!/bin/bash
# The exec provider with a collector of 1500 inputs: {inputs} in argv works, and the input list
# is also in $QUIRE_INPUTS_FILE (one environment string could not hold it).
. "$(dirname "$0")/lib.sh"
mkdir c && cd c && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: wide
inputs:
  N: { type: int, default: 1500, max: 100000 }
producers:
  Part:
    foreach: { i: N }
    role: part
    prompt: prompts/part.md
  Joined:
    role: join
    uses:
      - Part[*]
  Listed:
    role: list
    uses:
      - Part[*]
YAML
cat >quire.yaml <<'YAML'
quire: 1
jobs: 2
roles:
  part: { provider: mock, params: { mode: echo } }
  join: { provider: exec, params: { argv: [cat, "{inputs}"] } }
  list: { provider: exec, params: { shell: 'wc -l <"$QUIRE_INPUTS_FILE"; test -z "$QUIRE_INPUTS" && echo no-env-list' } }
YAML
echo "N: 1500" >inputs.yaml
echo 'part {{i}}' >prompts/part.md
run_q "a run with a 1500-input collector" 0 run
is "cat got every input, in order" "$(wc -l <out/Joined.md)" 1500
is "the first line is part 0" "$(head -1 out/Joined.md)" "part 0"
is "the list file names all of them" "$(head -1 out/Listed.md)" 1500
is "and the oversized list is not in the environment" "$(tail -1 out/Listed.md)" "no-env-list"
done_testing
