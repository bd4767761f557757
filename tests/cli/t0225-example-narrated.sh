#!/bin/bash
# examples/narrated-story: make writes the story (mock), narrates each chapter with espeak-ng
# and joins them with sox, all through the exec provider; a second make does nothing.
. "$(dirname "$0")/lib.sh"
for tool in espeak-ng sox; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (scripts/setup.sh installs it)"
		exit 0
	fi
done
cp -r "$QUIRE_SOURCE_ROOT/examples/narrated-story" ex && cd ex && rm -rf .quire out
m() { make --no-print-directory QUIRE="$QUIRE" "$@" >"$TRASH/.out" 2>"$TRASH/.err"; }
# wav_seconds FILE...: the total duration of valid WAVs (python's wave module refuses anything
# else).
wav_seconds() {
	python3 -c 'import sys, wave
t = 0
for f in sys.argv[1:]:
    w = wave.open(f)
    assert w.getnchannels() >= 1 and w.getsampwidth() == 2 and w.getnframes() > 0, f
    t += w.getnframes() / w.getframerate()
print("%.3f" % t)' "$@"
}
check "make builds the narration" m
check "quire produced every instance" out_has "run: $(rev 1): 7 produced"
check "out/Narration.wav exists" test -s out/Narration.wav
total=$(wav_seconds out/Narration.wav)
check "it is a valid WAV longer than 1 second ($total s)" python3 -c "assert float('$total') > 1.0"
check "each chapter was narrated" test -s out/ChapterAudio-0.wav -a -s out/ChapterAudio-2.wav
parts=$(wav_seconds out/ChapterAudio-0.wav out/ChapterAudio-1.wav out/ChapterAudio-2.wav)
check "the narration joins the three chapters ($parts s)" python3 -c "assert abs(float('$total') - float('$parts')) < 0.01"
run_q "inspect the narration" 0 inspect Narration
check "sox made it" out_has '{"command":"sox","exit_status":0}'
before=$(stat -c %Y.%s out/Narration.wav)
check "a second make" m
check "does nothing" out_has "Nothing to be done for 'all'."
is "the narration was not rewritten" "$(stat -c %Y.%s out/Narration.wav)" "$before"
sed -i 's/^Chapters: 3/Chapters: 4/' inputs.yaml
check "make after adding a chapter" m
check "writes, narrates and joins just what changed" out_has "run: $(rev 2): 3 produced"
more=$(wav_seconds out/Narration.wav)
check "the narration grew ($more s)" python3 -c "assert float('$more') > float('$total')"
done_testing
