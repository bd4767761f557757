#!/bin/bash
# Links never lead quire out of the project: a prompt or prompt directory linked to a file
# outside is refused (its content would enter the store), an out directory that is a link is
# refused (nothing is written through it), a linked blob shard stops writers and fsck --repair
# removes it. A link inside the project is fine. A secrets file that is a dangling link is
# named as such, not taken for a missing secret.
. "$(dirname "$0")/lib.sh"
new_story s
run_q "first run" 0 run
state=$(store_state)

mkdir -p "$TRASH/outside"
echo "SECRET NOTES {{Tone}}" >"$TRASH/outside/chapter.md"
cp prompts/chapter.md chapter.orig
rm prompts/chapter.md && ln -s "$TRASH/outside/chapter.md" prompts/chapter.md
run_q "a prompt linked out of the project: plan refuses" 3 plan
check "naming the file and why" err_has "'prompts/chapter.md', a link to a file outside the project"
run_q "run refuses too" 3 run
is "nothing was stored" "$(store_state)" "$state"
check "the outside text is in no blob" sh -c '! grep -rqF "SECRET NOTES" .quire/blobs'
rm prompts/chapter.md && cp chapter.orig prompts/chapter.md

# A link inside the project is followed.
cp prompts/chapter.md prompts/chapter-real.md
rm prompts/chapter.md && ln -s chapter-real.md prompts/chapter.md
run_q "a prompt linked to a file inside the project is fine" 0 plan --check
rm prompts/chapter.md && cp chapter.orig prompts/chapter.md

# A prompt directory linked out of the project.
mv prompts prompts.real
mkdir -p "$TRASH/outside/prompts" && cp prompts.real/* "$TRASH/outside/prompts/"
ln -s "$TRASH/outside/prompts" prompts
run_q "a prompt directory linked out of the project is refused" 3 plan
check "naming the directory" err_has "whose directory 'prompts' is a link out of the project"
rm prompts && mv prompts.real prompts
run_q "back to normal" 0 plan --check

# out/ as a link: nothing is written through it.
mkdir -p "$TRASH/elsewhere"
rm -rf out && ln -s "$TRASH/elsewhere" out
run_q "an out directory that is a link is refused" 3 run
check "naming it" err_has "'out' is a symbolic link"
is "nothing was written through it" "$(ls -A "$TRASH/elsewhere" | wc -l)" 0
run_q "plan says the same" 3 plan
rm out
run_q "with a real out/ again" 0 run
check "out/ restored" out_has "out/: 11 restored"

# A linked blob shard.
d=ab
mkdir -p .quire/blobs/sha256 "$TRASH/shard"
ln -s "$TRASH/shard" ".quire/blobs/sha256/$d"
echo "x" >>prompts/scene.md
run_q "a run with a linked blob shard stops before storing anything" 5 run
check "naming it" err_has "'.quire/blobs/sha256/$d' is not a directory (a link?)"
check "and the way out" err_has "quire fsck --repair"
run_q "fsck names it" 5 fsck
check "linked store directory" out_has "linked store directory .quire/blobs/sha256/$d"
run_q "fsck --repair removes the link" 0 fsck --repair
check "the link is gone" test ! -L ".quire/blobs/sha256/$d"
check "what it pointed at is untouched" test -d "$TRASH/shard"
run_q "the run goes on (what was in that shard is made or restored again)" 0 run
run_q "up to date" 0 plan --check

# A pack of small blobs that is a link.
mv .quire/blobs/pack.db "$TRASH/pack.db"
ln -s "$TRASH/pack.db" .quire/blobs/pack.db
echo "y" >>prompts/scene.md
run_q "a run with a linked pack stops before storing anything" 5 run
check "naming it" err_has "'.quire/blobs/pack.db' is not a file (a link?)"
run_q "fsck --repair removes the link" 0 fsck --repair
check "says so" out_has "linked store directory (repaired) .quire/blobs/pack.db"
check "the link is gone" test ! -L .quire/blobs/pack.db
check "what it pointed at is untouched" test -f "$TRASH/pack.db"
run_q "the run makes what it lost again" 0 run
run_q "up to date again" 0 plan --check

# The secrets file as a link to a file that was moved.
ln -s "$TRASH/no-such-secrets" "$TRASH/secrets-link"
sed -i 's/^  assemble:$/  assemble:\n    provider: replicate\n    model: some\/model\n  old_assemble:/' quire.yaml
QUIRE_SECRETS_FILE="$TRASH/secrets-link" REPLICATE_API_TOKEN= run_q "a dangling secrets link" 1 providers
check "is named as such, not as a missing secret" out_has "is a link to '$TRASH/no-such-secrets', which does not exist"
done_testing
