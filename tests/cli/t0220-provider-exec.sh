#!/bin/bash
# The exec provider runs real tools: output from stdout or a file, the prompt on stdin or as a
# file, {inputs} in a collector, generated text never reaching a shell, failures with stderr's
# tail, timeouts retried, an environment allow-list, SIGINT killing the tool, early cutoff.
. "$(dirname "$0")/lib.sh"

# project DIR: a project with the blueprint and bindings read from stdin as two documents
# separated by a line '--- quire.yaml'; inputs.yaml and prompts/ are written by the caller.
project() {
	cd "$TRASH" && mkdir -p "$1/prompts" && cd "$1" || exit 1
	awk '/^--- quire.yaml$/ { f = "quire.yaml"; next } { print > (f ? f : "blueprint.yaml") }'
	: >inputs.yaml
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TRASH/.out" "$1"; }

# --- Real tools: stdout, stdin, file output, a collector over {inputs}. ---
project tools <<'EOF'
blueprint: tools
version: 1
inputs:
  Premise: { type: text, required: true }
  Parts: { type: int, default: 3 }
producers:
  Copy:                        # cat with the prompt on stdin: the prompt, byte for byte
    role: copy
    prompt: prompts/premise.md
    uses: [Premise]
    output: { type: text, ext: txt }
  Upper:                       # tr reading the prompt file
    role: upper
    prompt: prompts/premise.md
    uses: [Premise]
    output: { type: text, ext: txt }
  Sorted:                      # sort writing {output} itself
    role: sorted
    prompt: prompts/premise.md
    uses: [Premise]
    output: { type: file, ext: txt }
  Part:
    foreach: { i: Parts }
    role: part
    prompt: prompts/part.md
    uses: [Upper]
    output: { type: text, ext: txt }
  Join:                        # a collector: cat {inputs}
    role: join
    uses:
      - Part[*]
    output: { type: text, ext: txt }
  Count:                       # a script given one input by index
    role: count
    uses: [Join]
    output: { type: text, ext: txt }
--- quire.yaml
quire: 1
roles:
  copy:   { provider: exec, params: { argv: [cat], stdin: prompt } }
  upper:  { provider: exec, params: { argv: [tr, a-z, A-Z], stdin: prompt } }
  sorted: { provider: exec, params: { argv: [sort, -o, "{output}", "{prompt_file}"], output_from: file } }
  part:   { provider: exec, params: { argv: [sh, tools/part.sh, "{prompt_file}", "{id}"] } }
  join:   { provider: exec, params: { argv: [cat, "{inputs}"] } }
  count:  { provider: exec, params: { argv: [sh, tools/count.sh, "{input:0}"] } }
EOF
cat >inputs.yaml <<'EOF'
Premise: |-
  zebra: $(touch pwned) and `touch pwned2` and ${HOME}
  apple: '; rm -rf ~/keep; echo "quoted \" stuff" | tee pwned3
  mango: * ? [a-z] ~ & ; | > pwned4 < /dev/null \n \\ %s
EOF
printf '{{Premise}}' >prompts/premise.md
printf 'part {{i}} of the text\n{{Upper}}\n' >prompts/part.md
mkdir tools && mkdir -p "$HOME/keep"
printf '#!/bin/sh\nprintf "%%s says: " "$2"\nhead -n 2 "$1"\n' >tools/part.sh
printf '#!/bin/sh\nwc -l <"$1" | tr -d " "\n' >tools/count.sh
run_q "a run with every role bound to exec" 0 run --json
is "all 8 produced" "$(count_events produced)" 8
printf '%s' "$(sed -n '2,4p' inputs.yaml | sed 's/^  //')" >expected.txt
check "the prompt reached cat byte for byte" cmp out/Copy.txt expected.txt
is "nothing in it was executed" "$(find "$TRASH" -name 'pwned*' | wc -l)" 0
check "~/keep survived" test -d "$HOME/keep"
is "tr read the prompt on stdin" "$(head -c 12 out/Upper.txt)" 'ZEBRA: $(TOU'
check "sort wrote {output} itself" sh -c 'sort expected.txt | cmp - out/Sorted.txt'
is "a script got the prompt file and the id" "$(head -n 1 out/Part-1.txt)" "Part[1] says: part 1 of the text"
check "{inputs} gave cat every part, in order" sh -c 'cat out/Part-0.txt out/Part-1.txt out/Part-2.txt | cmp - out/Join.txt'
is "{input:0} named the joined file" "$(cat out/Count.txt)" 6
run_q "inspect records the command and its exit status" 0 inspect Join
check "in the provenance" out_has '{"command":"cat","exit_status":0}'
run_q "a second run has nothing to do" 0 run --json
is "nothing produced" "$(count_events produced)" 0

# --- shell: only when the binding says so; the prompt only as $QUIRE_PROMPT_FILE. ---
cat >>quire.yaml <<'EOF'
  shelled: { provider: exec, params: { shell: 'tr a-z A-Z <"$QUIRE_PROMPT_FILE"; echo; echo "$QUIRE_ID $#"' } }
EOF
sed -i 's/^    role: upper$/    role: shelled/' blueprint.yaml
run_q "a binding with an explicit shell script" 0 run --json
is "the script read the prompt from the file it was named in" "$(head -c 12 out/Upper.txt)" 'ZEBRA: $(TOU'
is "and saw the QUIRE_ variables" "$(tail -n 1 out/Upper.txt)" "Upper 0"
is "still nothing executed" "$(find "$TRASH" -name 'pwned*' | wc -l)" 0

# --- Parameters are checked before anything runs, naming the role. ---
project bad <<'EOF'
blueprint: bad
version: 1
producers:
  A: { role: r, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  r: { provider: exec, params: { argv: [head, -c, 5] } }
EOF
run_q "an unquoted number in argv is refused" 3 run
check "naming the role and the argument" err_has "role 'r': provider 'exec': argv[2] must be a string (quote numbers and booleans)"
check "nothing was recorded" test ! -e .quire/current
sed -i 's/argv: \[head, -c, 5\]/argv: [cat], shell: "cat"/' quire.yaml
run_q "argv and shell together are refused" 3 run
check "with a clear message" err_has "give either argv or shell, not both"
sed -i 's/argv: \[cat\], shell: "cat"/argv: [cat, "{outptu}"]/' quire.yaml
run_q "an unknown placeholder is refused" 3 run
check "naming it" err_has "argv[1]: unknown placeholder '{outptu}'"
sed -i 's/argv: \[cat, "{outptu}"\]/argv: [cat], stdin: all/' quire.yaml
run_q "a bad stdin value is refused" 3 run
check "saying what is allowed" err_has 'stdin must be "prompt" or "none"'
sed -i 's/stdin: all/env: ["SECRET=1"]/' quire.yaml
run_q "a value in the env allow-list is refused" 3 run
check "env lists names" err_has "env lists names passed through"
sed -i 's/env: \["SECRET=1"\]/cwd: ..\/elsewhere/' quire.yaml
run_q "a cwd outside the project is refused" 3 run
check "saying where it must be" err_has "cwd must be a relative directory inside the project"

# --- cwd, a tool killed by a signal, an input index beyond the inputs. ---
project misc <<'EOF2'
blueprint: misc
version: 1
producers:
  Where: { role: where, output: { type: text, ext: txt } }
  Killed: { role: killed, output: { type: text, ext: txt } }
  Range: { role: range, uses: [Where], output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  where: { provider: exec, params: { argv: [pwd], cwd: sub/dir } }
  killed: { provider: exec, params: { argv: [sh, -c, 'kill -KILL $$'] } }
  range: { provider: exec, params: { argv: [cat, "{input:1}"] } }
EOF2
mkdir -p sub/dir
run_q "a run with a killed tool and a bad index" 1 run --json
is "the failures" "$(event_ids failed)" "Killed Range"
is "the command ran in cwd" "$(cat out/Where.txt)" "$(pwd -P)/sub/dir"
run_q "inspect the killed one" 0 inspect Killed
check "says which signal" out_has "'sh' was killed by signal 9 (SIGKILL)"
run_q "inspect the bad index" 0 inspect Range
check "says how many inputs there are" out_has "argv[1]: {input:1} is out of range: Range has 1 input"

# --- Failures: stderr's tail in the error, only dependants blocked. ---
project fail <<'EOF'
blueprint: fail
version: 1
producers:
  Good: { role: ok, output: { type: text, ext: txt } }
  Bad: { role: bad, output: { type: text, ext: txt } }
  AfterBad: { role: ok, uses: [Bad], output: { type: text, ext: txt } }
  AfterGood: { role: ok, uses: [Good], output: { type: text, ext: txt } }
  Missing: { role: missing, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  ok: { provider: exec, params: { argv: [echo, fine] } }
  bad: { provider: exec, retries: 2, retry_base_ms: 10, params: { argv: [sh, fail.sh] } }
  missing: { provider: exec, params: { argv: [no-such-tool-for-quire, x] } }
EOF
{
	echo '#!/bin/sh'
	echo 'echo partial output'
	echo 'i=0; while [ $i -lt 300 ]; do echo "early noise line $i" >&2; i=$((i + 1)); done'
	echo 'echo "fail.sh: the real reason is at the end" >&2'
	echo 'exit 3'
} >fail.sh
run_q "a run with a failing tool exits 1" 1 run --json
is "the failures" "$(event_ids failed)" "Bad Missing"
is "only the failing tool's dependant is blocked" "$(event_ids blocked)" "AfterBad"
is "everything else was produced" "$(event_ids produced)" "AfterGood Good"
run_q "inspect the failed instance" 0 inspect Bad
check "exit status in the error" out_has "error:       exit status 3: "
check "with the end of stderr" out_has "fail.sh: the real reason is at the end"
check "but only its tail" sh -c "! grep -q 'early noise line 100$' '$TRASH/.out'"
check "a non-zero exit is not retried" sh -c "! grep -q 'attempts)' '$TRASH/.out'"
check "a failed job keeps no partial output" test ! -e out/Bad.txt
run_q "inspect the missing program" 0 inspect Missing
check "cannot run it" out_has "cannot run 'no-such-tool-for-quire': No such file or directory"
sed -i 's/no-such-tool-for-quire/echo/' quire.yaml

# Exit 75 (EX_TEMPFAIL) is transient: retried, and the retry may succeed.
printf '#!/bin/sh\necho x >>attempts.log\n[ "$(wc -l <attempts.log)" -ge 2 ] || { echo busy >&2; exit 75; }\necho made it\n' >fail.sh
run_q "a tool that exits 75 once" 0 run --json
is "then succeeds" "$(event_ids produced)" "AfterBad Bad Missing"
is "on its second attempt" "$(wc -l <attempts.log)" 2
run_q "inspect it" 0 inspect --json Bad
is "two attempts recorded" "$(json_field attempts)" 2
run_q "nothing left" 0 plan --check

# --- Timeouts: SIGTERM, transient, retried `retries` times, bounded time. ---
project slow <<'EOF'
blueprint: slow
version: 1
producers:
  Slow: { role: slow, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  slow: { provider: exec, retries: 1, retry_base_ms: 10, params: { argv: [sleep, "5"], timeout_s: 1 } }
EOF
t0=$(now_ms)
run_q "a tool that outlives timeout_s fails" 1 run --json
elapsed=$(($(now_ms) - t0))
check "after two attempts of about 1 s (${elapsed} ms)" test "$elapsed" -ge 1900 -a "$elapsed" -lt 8000
check "the timeout is reported" out_has "timed out after 1 s (after 2 attempts)"

# --- Environment allow-list. ---
project env <<'EOF'
blueprint: env
version: 1
producers:
  Env: { role: env, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  env:
    provider: exec
    params:
      argv: [sh, -c, 'printf "%s|%s|%s|%s" "${SECRET_THING-unset}" "${HOME:+home}" "${OTHER_THING-unset}" "$QUIRE_ID"']
EOF
SECRET_THING=xyz OTHER_THING=abc run_q "a tool run with SECRET_THING in quire's environment" 0 run
is "does not see it, but sees HOME" "$(cat out/Env.txt)" "unset|home|unset|Env"
sed -i 's/^      argv:/      env: [SECRET_THING]\n      argv:/' quire.yaml
SECRET_THING=xyz OTHER_THING=abc run_q "with SECRET_THING in env:" 0 run
is "it is passed through, and nothing else" "$(cat out/Env.txt)" "xyz|home|unset|Env"

# --- SIGINT: the tool's process group is killed, quire exits 130. ---
project int <<'EOF'
blueprint: int
version: 1
producers:
  Long: { role: long, output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  long: { provider: exec, params: { argv: [sh, -c, 'sleep "$1"; echo done', sh, "SLEEP"] } }
EOF
marker="29.$$$RANDOM"
sed -i "s/SLEEP/$marker/" quire.yaml
"$QUIRE" run --json >int.out 2>int.err &
pid=$!
for _ in $(seq 100); do pgrep -f "^sleep $marker" >/dev/null && break; sleep 0.1; done
check "the tool is running" sh -c "pgrep -f '^sleep $marker' >/dev/null"
t0=$(now_ms)
kill -INT "$pid"
wait "$pid"
is "SIGINT exits 130" "$?" 130
check "promptly ($(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -lt 3000
check "no sleep is left behind" sh -c "! pgrep -f '^sleep $marker' >/dev/null"
is "the cancelled job is not a failure" "$(grep -c '"event":"failed"' int.out)" 0
check "quire says it was interrupted" grep -q "interrupted" int.err

# --- Early cutoff: a tool that ignores part of its input gives the same bytes. ---
project cutoff <<'EOF'
blueprint: cutoff
version: 1
inputs:
  Premise: { type: text, required: true }
producers:
  Up: { role: copy, prompt: prompts/p.md, uses: [Premise], output: { type: text, ext: txt } }
  Head: { role: head, uses: [Up], output: { type: text, ext: txt } }
  Down: { role: down, uses: [Head], output: { type: text, ext: txt } }
--- quire.yaml
quire: 1
roles:
  copy: { provider: exec, params: { argv: [cat], stdin: prompt } }
  head: { provider: exec, params: { argv: [head, -c, "5", "{input:0}"] } }
  down: { provider: exec, params: { argv: [wc, -c, "{input:0}"] } }
EOF
printf '{{Premise}}' >prompts/p.md
echo 'Premise: "Hello there"' >inputs.yaml
run_q "first run" 0 run --json
is "all three produced" "$(count_events produced)" 3
echo 'Premise: "Hello again"' >inputs.yaml
run_q "after an edit past the first five bytes" 0 run --json
is "the changed instances ran" "$(event_ids produced)" "Head Up"
is "the downstream one was cut off" "$(event_ids unchanged)" "Down"
is "head kept its five bytes" "$(cat out/Head.txt)" "Hello"
done_testing
