#!/bin/bash
# Scheduling: among ready instances, the one on the longest remaining path starts first
# (durations recorded by earlier runs, at least one per step), not the one listed first.
. "$(dirname "$0")/lib.sh"
mkdir c && cd c && mkdir prompts
cat >blueprint.yaml <<'YAML'
blueprint: chains
inputs:
  N: { type: int, default: 6 }
producers:
  Short:
    foreach: { i: N }
    role: w
    prompt: prompts/p.md
  Long1: { role: w, prompt: prompts/p.md }
  Long2: { role: w, prompt: prompts/p.md, uses: [Long1] }
  Long3: { role: w, prompt: prompts/p.md, uses: [Long2] }
  Long4: { role: w, prompt: prompts/p.md, uses: [Long3] }
YAML
printf 'quire: 1\nroles:\n  w: { provider: mock, model: a }\n' >quire.yaml
echo "N: 6" >inputs.yaml
echo "step" >prompts/p.md
# 100 ms a step: the chain (400 ms) outweighs a short job even when a busy machine
# stretches one of them.
first_start() { grep '"event":"start"' "$TRASH/.out" | head -1 | sed 's/.*"id":"\([^"]*\)".*/\1/'; }
QUIRE_MOCK_LATENCY_MS=100 run_q "first run, one job at a time" 0 run -j 1 --json
is "the head of the long chain starts first" "$(first_start)" "Long1"
sed -i 's/model: a/model: b/' quire.yaml
QUIRE_MOCK_LATENCY_MS=100 run_q "a full re-run with recorded durations" 0 run -j 1 --json
is "the long chain still goes first" "$(first_start)" "Long1"
check "and the short ones fill in after it" sh -c "grep '\"event\":\"start\"' '$TRASH/.out' | sed -n 2p | grep -q -e Short -e Long2"
done_testing
