#!/usr/bin/env python3
"""Write the story-shaped benchmark graph three ways (quire, ninja, make).

    gen.py OUTDIR --instances N

The graph: 1 Outline -> C Chapters -> S Scenes per chapter -> 1 Book collecting every
scene, with C = S = round(sqrt(N)), so about N + C + 2 steps in all. Every step is a
trivial `cat` of its own prompt file and its upstream outputs:

    outline      = cat prompts/outline.md
    chapter-I    = cat prompts/chapter-I.md   outline
    scene-I-J    = cat prompts/scene-I-J.md   chapter-I
    book         = cat prompts/book.md        scene-0-0 ... scene-(C-1)-(S-1)

It writes:

    OUTDIR/quire/       quire project, roles bound to the exec provider, one prompt file per
                        instance (blueprint prompt paths `prompts/scene-{{i}}-{{j}}.md`)
    OUTDIR/quire-mock/  the same graph bound to the mock provider, one prompt per producer
    OUTDIR/ninja/       build.ninja + its own copy of prompts/, outputs under out/
    OUTDIR/make/        Makefile + its own copy of prompts/, outputs under out/
    OUTDIR/graph.json   {"chapters": C, "scenes": S, "steps": total}

Each tool gets its own copy of the prompt files (identical bytes), so that a benchmark
can change one tool's prompt without touching the others' trees.

The book collects C*S files: one command line naming them all would exceed Linux's
128 KiB limit on a single exec argument (`sh -c "..."`) from about 7k scenes, so ninja
and make pass the list through a response file and `xargs cat` (ninja: `rspfile`;
make: `$(file ...)`). quire's exec provider passes the store files as separate argv
entries (`cat {prompt_file} {inputs}`) and, joined, in the QUIRE_INPUTS environment
variable, which fails from about 1,000 inputs; `--book auto` (the default) then makes the
Book with the mock provider echoing a prompt that joins every scene (same bytes). See
book_mode() below.

Standard library only.
"""

import argparse
import json
import math
import os
import re
import sys


def dims(n):
    c = max(1, round(math.sqrt(n)))
    return c, c


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def outline_prompt():
    return "Outline of the benchmark story.\n"


def chapter_prompt(i):
    return "Chapter %d: what happens in it.\n" % i


def scene_prompt(i, j):
    return "Scene %d.%d: who is there and what they do.\n" % (i, j)


def book_prompt():
    return "The book.\n"


def write_prompts(d, c, s):
    p = os.path.join(d, "prompts")
    os.makedirs(p, exist_ok=True)
    write(os.path.join(p, "outline.md"), outline_prompt())
    write(os.path.join(p, "book.md"), book_prompt())
    for i in range(c):
        write(os.path.join(p, "chapter-%d.md" % i), chapter_prompt(i))
        for j in range(s):
            write(os.path.join(p, "scene-%d-%d.md" % (i, j)), scene_prompt(i, j))


BLUEPRINT = """\
# Benchmark graph (bench/gen.py): 1 Outline -> {c} Chapters -> {s} Scenes each -> 1 Book.
blueprint: bench
version: 1
inputs:
  Chapters: {{ type: int, default: {c}, min: 1, max: 100000 }}
  Scenes:   {{ type: int, default: {s}, min: 1, max: 100000 }}
producers:
  Outline:
    role: outline
    prompt: {outline}
    output: {{ type: text, ext: md }}
  Chapter:
    foreach: {{ i: Chapters }}
    role: chapter
    prompt: {chapter}
    uses: [Outline]
    output: {{ type: text, ext: md }}
  Scene:
    foreach: {{ i: Chapters, j: Scenes }}
    role: scene
    prompt: {scene}
    uses:
      - Chapter[i]
    output: {{ type: text, ext: md }}
  Book:
    role: book
    prompt: {book}
    uses:
      - Scene[*][*]
    output: {{ type: text, ext: md }}
"""

QUIRE_EXEC = """\
# Benchmark project (bench/gen.py): every step is a `cat` run by the exec provider.
quire: 1
blueprint: blueprint.yaml
inputs: inputs.yaml
out: out
jobs: 2
roles:
  outline: { provider: exec, params: { argv: [cat, "{prompt_file}"] } }
  chapter: { provider: exec, params: { argv: [cat, "{prompt_file}", "{input:0}"] } }
  scene:   { provider: exec, params: { argv: [cat, "{prompt_file}", "{input:0}"] } }
  book:    { provider: exec, params: { argv: [cat, "{prompt_file}", "{inputs}"] } }
"""

QUIRE_MOCK = """\
# Benchmark project (bench/gen.py): the same graph on the offline mock provider.
quire: 1
blueprint: blueprint.yaml
inputs: inputs.yaml
out: out
jobs: 2
roles:
  outline: { provider: mock, model: mock-writer }
  chapter: { provider: mock, model: mock-writer }
  scene:   { provider: mock, model: mock-writer }
  book:    { provider: mock, params: { mode: echo } }
"""


# The exec provider passes a collector's upstream files both as argv entries and, joined by
# newlines, in one environment variable (QUIRE_INPUTS). Linux refuses an exec whose single
# argument or environment string exceeds 128 KiB (MAX_ARG_STRLEN) and whose argv+environ
# exceed ARG_MAX (2 MiB here): "Argument list too long". Store paths are ~100 bytes, so a
# `cat {inputs}` collector fails from about 1,000 scenes. "auto" therefore binds the Book
# to the exec provider only when its input list fits, and otherwise to the mock provider in
# echo mode with a prompt that joins every scene: the same bytes as `cat book.md scenes...`,
# assembled in quire's process instead of by a `cat`.
ENV_STRING_LIMIT = 100 * 1024


def book_mode(outdir, c, s, book):
    if book != "auto":
        return book
    per = len(os.path.abspath(outdir)) + len("/quire/.quire/blobs/sha256/xx/") + 64 + 1
    return "exec" if c * s * per < ENV_STRING_LIMIT else "echo"


BOOK_ECHO_ROLE = '  book:    { provider: mock, params: { mode: echo } }\n'
BOOK_ECHO_PROMPT = book_prompt() + '{{Scene[*][*] | join ""}}'


def gen_quire(d, c, s, book="exec"):
    os.makedirs(d, exist_ok=True)
    write_prompts(d, c, s)
    conf = QUIRE_EXEC
    if book == "echo":
        conf = re.sub(r"  book: .*\n", lambda m: BOOK_ECHO_ROLE, conf)
        write(os.path.join(d, "prompts", "book.md"), BOOK_ECHO_PROMPT)
    write(os.path.join(d, "quire.yaml"), conf)
    write(os.path.join(d, "blueprint.yaml"), BLUEPRINT.format(
        c=c, s=s, outline="prompts/outline.md", chapter='"prompts/chapter-{{i}}.md"',
        scene='"prompts/scene-{{i}}-{{j}}.md"', book="prompts/book.md"))
    write(os.path.join(d, "inputs.yaml"), "Chapters: %d\nScenes: %d\n" % (c, s))


def gen_quire_mock(d, c, s):
    p = os.path.join(d, "prompts")
    os.makedirs(p, exist_ok=True)
    write(os.path.join(p, "outline.md"), outline_prompt())
    write(os.path.join(p, "chapter.md"), "Chapter {{i}}: what happens in it.\n")
    write(os.path.join(p, "scene.md"), "Scene {{i}}.{{j}}: who is there and what they do.\n")
    write(os.path.join(p, "book.md"), "{{Scene[*][*]}}\n")
    write(os.path.join(d, "quire.yaml"), QUIRE_MOCK)
    write(os.path.join(d, "blueprint.yaml"), BLUEPRINT.format(
        c=c, s=s, outline="prompts/outline.md", chapter="prompts/chapter.md",
        scene="prompts/scene.md", book="prompts/book.md"))
    write(os.path.join(d, "inputs.yaml"), "Chapters: %d\nScenes: %d\n" % (c, s))


def scene_outputs(c, s):
    return ["out/scene-%d-%d.md" % (i, j) for i in range(c) for j in range(s)]


def gen_ninja(d, c, s):
    os.makedirs(d, exist_ok=True)
    write_prompts(d, c, s)
    lines = [
        "# Benchmark graph (bench/gen.py): 1 outline -> %d chapters -> %d scenes each -> 1 book."
        % (c, s),
        "ninja_required_version = 1.7",
        "rule cat",
        "  command = cat $in > $out",
        "rule collect",
        "  command = xargs cat < $out.rsp > $out",
        "  rspfile = $out.rsp",
        "  rspfile_content = $in",
        "build out/outline.md: cat prompts/outline.md",
    ]
    for i in range(c):
        lines.append("build out/chapter-%d.md: cat prompts/chapter-%d.md out/outline.md" % (i, i))
        for j in range(s):
            lines.append("build out/scene-%d-%d.md: cat prompts/scene-%d-%d.md out/chapter-%d.md"
                         % (i, j, i, j, i))
    lines.append("build out/book.md: collect prompts/book.md " + " ".join(scene_outputs(c, s)))
    lines.append("default out/book.md")
    write(os.path.join(d, "build.ninja"), "\n".join(lines) + "\n")


def gen_make(d, c, s):
    os.makedirs(d, exist_ok=True)
    write_prompts(d, c, s)
    # Static pattern rules would hide the dependency on the chapter; spell every rule out,
    # as build.ninja does. The book's recipe writes its prerequisite list to a response
    # file with $(file ...) (GNU make >= 4.0), since one command line cannot hold it.
    lines = [
        "# Benchmark graph (bench/gen.py): 1 outline -> %d chapters -> %d scenes each -> 1 book."
        % (c, s),
        ".SUFFIXES:",
        "MAKEFLAGS += -r -R",
        "all: out/book.md",
        ".PHONY: all",
        "out/outline.md: prompts/outline.md | out",
        "\tcat $^ > $@",
        "out:",
        "\tmkdir -p out",
    ]
    for i in range(c):
        lines.append("out/chapter-%d.md: prompts/chapter-%d.md out/outline.md" % (i, i))
        lines.append("\tcat $^ > $@")
        for j in range(s):
            lines.append("out/scene-%d-%d.md: prompts/scene-%d-%d.md out/chapter-%d.md"
                         % (i, j, i, j, i))
            lines.append("\tcat $^ > $@")
    lines.append("out/book.md: prompts/book.md " + " ".join(scene_outputs(c, s)))
    lines.append("\t$(file >$@.rsp,$^)xargs cat < $@.rsp > $@")
    write(os.path.join(d, "Makefile"), "\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--instances", "-n", type=int, default=1000,
                    help="about how many instances (default 1000)")
    ap.add_argument("--only", default="quire,quire-mock,ninja,make",
                    help="comma-separated subset of quire,quire-mock,ninja,make")
    ap.add_argument("--book", choices=("auto", "exec", "echo"), default="auto",
                    help="how the quire project's Book is made: exec `cat`, or the mock "
                         "provider echoing a prompt that joins every scene (auto: exec when "
                         "the input list fits in one exec; see ENV_STRING_LIMIT)")
    a = ap.parse_args(argv)
    if a.instances < 1 or a.instances > 10_000_000:
        ap.error("--instances must be between 1 and 10000000")
    c, s = dims(a.instances)
    only = set(x.strip() for x in a.only.split(",") if x.strip())
    unknown = only - {"quire", "quire-mock", "ninja", "make"}
    if unknown:
        ap.error("unknown --only: " + ",".join(sorted(unknown)))
    os.makedirs(a.outdir, exist_ok=True)
    book = book_mode(a.outdir, c, s, a.book)
    if "quire" in only:
        gen_quire(os.path.join(a.outdir, "quire"), c, s, book)
    if "quire-mock" in only:
        gen_quire_mock(os.path.join(a.outdir, "quire-mock"), c, s)
    if "ninja" in only:
        gen_ninja(os.path.join(a.outdir, "ninja"), c, s)
    if "make" in only:
        gen_make(os.path.join(a.outdir, "make"), c, s)
    info = {"chapters": c, "scenes": s, "steps": 1 + c + c * s + 1, "quire_book": book}
    write(os.path.join(a.outdir, "graph.json"), json.dumps(info) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
