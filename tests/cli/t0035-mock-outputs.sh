#!/bin/bash
# The mock provider: deterministic, valid outputs of every type (prose, schema-valid JSON, PNG,
# WAV), and a live progress line on a terminal.
. "$(dirname "$0")/lib.sh"
mkdir m && cd m
mkdir prompts schemas
cat >blueprint.yaml <<'YAML'
blueprint: media
inputs:
  Panels: { type: int, default: 2, min: 1 }
producers:
  Script:
    role: writer
    prompt: prompts/script.md
    uses: [Panels]
    output: { type: json, schema: schemas/script.json }
  Panel:
    foreach: { p: Panels }
    role: artist
    prompt: prompts/panel.md
    uses: [Script]
    output: { type: image }
  Voice:
    role: narrator
    prompt: prompts/voice.md
    uses: [Script]
    output: { type: audio }
  Notes:
    role: writer
    uses: [Script]
YAML
cat >quire.yaml <<'YAML'
quire: 1
roles:
  writer: { provider: mock }
  artist: { provider: mock }
  narrator: { provider: mock }
YAML
echo "Panels: 2" >inputs.yaml
echo 'A comic script with {{Panels}} panels.' >prompts/script.md
echo 'Draw: {{Script.panels[p].caption}} (mood {{Script.panels[p].mood}})' >prompts/panel.md
echo 'Read aloud: {{Script.title}}' >prompts/voice.md
cat >schemas/script.json <<'JSON'
{ "type": "object", "required": ["title", "panels"], "additionalProperties": false,
  "properties": {
    "title": { "type": "string" },
    "panels": { "type": "array", "minItems": {{Panels}}, "maxItems": {{Panels}},
      "items": { "type": "object", "required": ["caption", "mood", "beats"],
        "properties": { "caption": { "type": "string" },
          "mood": { "enum": ["calm", "tense", "joyful"] },
          "beats": { "type": "integer", "minimum": 1, "maximum": 4 } } } } } }
JSON
run_q "a media project runs on the mock" 0 run
check "the JSON matches its schema" python3 -c '
import json; d=json.load(open("out/Script.json"))
assert set(d)=={"title","panels"} and len(d["panels"])==2
for p in d["panels"]:
    assert p["mood"] in ("calm","tense","joyful") and 1<=p["beats"]<=4 and isinstance(p["caption"],str)'
check "the PNG is a valid image" python3 -c '
import struct,zlib
b=open("out/Panel-0.png","rb").read()
assert b[:8]==b"\x89PNG\r\n\x1a\n"
pos=8; chunks={}; idat=b""
while pos < len(b):
    n,=struct.unpack(">I",b[pos:pos+4]); t=b[pos+4:pos+8]; data=b[pos+8:pos+8+n]
    crc,=struct.unpack(">I",b[pos+8+n:pos+12+n]); assert crc==zlib.crc32(t+data)
    if t==b"IDAT": idat+=data
    chunks[t]=data; pos+=12+n
w,h=struct.unpack(">II",chunks[b"IHDR"][:8]); raw=zlib.decompress(idat)
assert len(raw)==h*(1+w*3) and b"IEND" in chunks'
check "the WAV is valid audio" python3 -c '
import wave; w=wave.open("out/Voice.wav"); assert w.getnframes()>0 and w.getsampwidth()==2'
check "a producer without a prompt still gets prose" grep -q '^# Notes' out/Notes.md
check "two panels differ" sh -c '! cmp -s out/Panel-0.png out/Panel-1.png'
sums=$(sha256sum out/* | sha256sum)
rm -rf .quire out
run_q "building again from scratch" 0 run -j 1
is "the mock is deterministic" "$(sha256sum out/* | sha256sum)" "$sums"

if command -v script >/dev/null; then
	rm -rf .quire out
	script -qec "$QUIRE run" /dev/null >"$TRASH/.out" 2>&1
	check "on a terminal, progress is one live line" grep -q $'\r' "$TRASH/.out"
	check "and the summary follows" out_has "run: $(rev 1): 5 produced"
fi
done_testing
