#!/bin/bash
# Each revision records the project's git HEAD and whether its files differ from it; a project
# outside any repository records none (and quire does not start libgit2 for it).
. "$(dirname "$0")/lib.sh"
new_story plain
run_q "a run outside any repository" 0 run
check "records no git state" python3 -c '
import json; m=json.load(open("'"$(revjson 1)"'")); assert m["git"] is None, m["git"]'

cd "$TRASH" && new_story repo
git init -q . && git add -A && git -c user.name=t -c user.email=t@example.invalid commit -qm init
head=$(git rev-parse HEAD)
run_q "a run in a clean repository" 0 run
check "records HEAD, not dirty" python3 -c '
import json,sys; g=json.load(open("'"$(revjson 1)"'"))["git"]
assert g == {"head": sys.argv[1], "dirty": False}, g' "$head"
sed -i 's/^Scenes: .*/Scenes: 3/' inputs.yaml
run_q "a run with an edited tracked file" 0 run
check "records the same HEAD, dirty" python3 -c '
import json,sys; g=json.load(open("'"$(revjson 2)"'"))["git"]
assert g == {"head": sys.argv[1], "dirty": True}, g' "$head"

cd "$TRASH" && mkdir -p outer && cd outer && git init -q . && cd "$TRASH"
mkdir -p outer/deep && cd outer/deep && new_story nested
run_q "a project in a subdirectory of a repository" 0 run
check "finds the repository above it" python3 -c '
import json; g=json.load(open("'"$(revjson 1)"'"))["git"]
assert g is not None and g["head"] is None, g'
done_testing
