#!/usr/bin/env python3
"""quire's benchmark: the story-shaped graph built by quire, ninja and make.

    python3 bench/run.py [--sizes 1000,10000] [--repeat 3] [--repeat-full 1] [--quire PATH]

For each size it generates the graph (bench/gen.py) into a temporary directory and measures,
alternating the tools (the order rotates from one repetition to the next):

  full       a build from scratch, -j2                          every step runs
  noop       the same command again (quire: `plan --check` and `run`)   nothing runs
  scene      prompts/scene-0-0.md gets new content              exactly 2 steps (scene, book)
  outline    prompts/outline.md gets new content                every step runs

and, for quire alone: the readers of history on the revisions those rows made (the log, one
artefact, the last diff, a rewind's preview, gc's marks and fsck, which read every revision;
a rewind of the last change and back, with the bytes it adds), the same graph on the mock provider (a full run, with the manifest
commit), peak RSS, SHA-256 throughput of quire's own file hashing on a 1 GiB file against
`openssl dgst -sha256`, a concurrency run (200 mock jobs x 100 ms at -j16 against the ideal
time) and, when both 10k and 100k are measured, the 100k/10k growth of plan and no-op run.

Every run's step count is checked (ninja: its `[i/n]` status lines; make: the recipe lines it
echoes; quire: the `--json` summary's produced/cached/unchanged) and a mismatch stops the
benchmark with exit status 1. Times are wall-clock medians. Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the source tree
import gen  # noqa: E402

TOOLS = ("quire", "ninja", "make")
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
STRACE = shutil.which("strace")  # system calls per step, when installed

# The targets of issue 5, by (scenario, size): the largest allowed quire/ninja ratio.
TARGETS = {
    ("full", 10000): 1.0, ("full", 100000): 0.8,
    ("noop-plan", 10000): 1.0, ("noop-plan", 100000): 0.5,
    ("noop-run", 10000): 1.0, ("noop-run", 100000): 0.5,
    ("scene", 10000): 1.0, ("scene", 100000): 1.0,
    ("rss", 100000): 1.0,
}
SCENARIO_NAMES = {
    "full": "full build -j2",
    "noop-plan": "no-op (quire plan --check)",
    "noop-run": "no-op (quire run)",
    "scene": "one scene's prompt changed",
    "outline": "outline's prompt changed",
    "rss": "peak RSS (MiB)",
}


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Runner:
    """Runs one command at a time, timing it and collecting its own peak RSS (wait4)."""

    def __init__(self, tmp, timeout):
        self.tmp = tmp
        self.timeout = timeout
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKE_TERMOUT",
                                 "MAKE_TERMERR", "NINJA_STATUS")
                    and not k.startswith("QUIRE_")}
        self.env["NO_COLOR"] = "1"
        self.env["NINJA_STATUS"] = "[%f/%t] "
        self.n = 0

    def run(self, argv, cwd, ok_codes=(0,)):
        """Returns (seconds, exit code, stdout, peak RSS in KiB)."""
        self.n += 1
        out_path = os.path.join(self.tmp, "cmd-%d.out" % self.n)
        err_path = os.path.join(self.tmp, "cmd-%d.err" % self.n)
        rss_path = os.path.join(self.tmp, "cmd-%d.rss" % self.n)
        if TIME:
            # The child of a fork (or vfork) starts with python's RSS, which getrusage would
            # report as the tool's peak; GNU time is a small parent, and reports %M exactly.
            argv_run = [TIME, "-f", "%M", "-o", rss_path, "--"] + list(argv)
        else:
            argv_run = argv
        # Nothing an earlier command wrote is left for this one to write back: quire's commit
        # syncs the file system (syncfs), and paid for every file the rows before it had left
        # in the page cache, ninja's and make's included.
        os.sync()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv_run, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=err, env=self.env, start_new_session=True)
            timed_out = []

            def kill():
                timed_out.append(True)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            timer = threading.Timer(self.timeout, kill)
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            except BaseException:
                # Ctrl-C: the child runs in a session of its own, so stop it here
                kill()
                os.waitpid(p.pid, 0)
                raise
            finally:
                timer.cancel()
            secs = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
        with open(out_path, "r", encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err_path, "r", encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        os.unlink(out_path)
        os.unlink(err_path)
        maxrss = ru.ru_maxrss
        if TIME:
            try:
                with open(rss_path) as f:
                    maxrss = int(f.read().split()[-1])
                os.unlink(rss_path)
            except (OSError, ValueError, IndexError):
                maxrss = 0
        if timed_out:
            raise BenchError("%s (in %s) timed out after %d s" % (" ".join(argv), cwd, self.timeout))
        if p.returncode not in ok_codes:
            raise BenchError("%s (in %s) exited %d\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s"
                             % (" ".join(argv), cwd, p.returncode, stdout[-2000:], stderr[-2000:]))
        return secs, p.returncode, stdout, maxrss


# ---- per-tool commands and step counting -------------------------------------------------

STATUS_RE = re.compile(r"^\[\d+/\d+\] ", re.M)
MAKE_RECIPE_RE = re.compile(r"^(cat |xargs cat )", re.M)


def quire_summary(stdout):
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "summary":
                return ev
    raise BenchError("quire run --json printed no summary:\n" + stdout[-2000:])


TRASH = []  # [directory]: where discard() moves what the run no longer needs


def discard(path):
    """Moves path out of the way; it is deleted when the benchmark ends.

    Not deleted now: on ext4 without a journal (this VM's disk) every file creation scans
    the inodes deleted in the last minute or so, so a tool run right after another's clean
    paid for those deletions, by seconds at 10k steps (and the mock run, just after its own
    clean, most of all)."""
    if not TRASH:
        raise BenchError("discard() before the trash directory was made")
    dst = os.path.join(TRASH[0], "%d" % len(os.listdir(TRASH[0])))
    os.rename(path, dst)


class Tool:
    def __init__(self, name, d, runner, quire):
        self.name, self.d, self.r, self.quire = name, d, runner, quire
        self.peak_rss = 0
        self.last_rss = 0  # KiB, of the last build or plan

    def clean(self):
        for x in (".quire", "out", ".ninja_log", ".ninja_deps"):
            p = os.path.join(self.d, x)
            if os.path.lexists(p):
                discard(p)

    def build(self, expect):
        """One build; checks that exactly `expect` steps ran. Returns seconds."""
        if self.name == "ninja":
            secs, _, out, rss = self.r.run(["ninja", "-j2"], self.d)
            ran = len(STATUS_RE.findall(out))
        elif self.name == "make":
            secs, _, out, rss = self.r.run(["make", "-j2"], self.d)
            ran = len(MAKE_RECIPE_RE.findall(out))
        else:
            secs, _, out, rss = self.r.run([self.quire, "run", "-j", "2", "--json"], self.d)
            ev = quire_summary(out)
            bad = [k for k in ("failed", "blocked", "cached", "unchanged") if ev.get(k)]
            if bad:
                raise BenchError("%s: quire run reported %s: %s" % (self.d, ", ".join(bad),
                                                                    json.dumps(ev)))
            ran = ev.get("produced", -1)
        self.peak_rss = max(self.peak_rss, rss)
        self.last_rss = rss
        if ran != expect:
            raise BenchError("%s in %s re-ran %d steps, expected %d\n--- output (tail)\n%s"
                             % (self.name, self.d, ran, expect, out[-3000:]))
        return secs

    def plan_check(self):
        secs, _, _, rss = self.r.run([self.quire, "plan", "--check"], self.d, ok_codes=(0,))
        self.peak_rss = max(self.peak_rss, rss)
        self.last_rss = rss
        return secs


def append(path, text):
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


# ---- one size --------------------------------------------------------------------------

def bench_size(n, args, runner, tmp, deadline):
    d = os.path.join(tmp, "n%d" % n)
    t0 = time.perf_counter()
    gen.main([d, "--instances", str(n), "--book", args.book])
    with open(os.path.join(d, "graph.json")) as f:
        g = json.load(f)
    steps = g["steps"]
    log("size %d: %d chapters x %d scenes = %d steps (quire Book: %s); generated in %.1f s"
        % (n, g["chapters"], g["scenes"], steps, g["quire_book"], time.perf_counter() - t0))
    tools = {t: Tool(t, os.path.join(d, t), runner, args.quire) for t in args.tools}
    times = {}  # (scenario, tool) -> [seconds]
    rss_rows = {}  # (scenario, tool) -> the largest peak RSS of its runs, KiB
    notes = []

    def rec(scen, tool, secs, rss=None):
        times.setdefault((scen, tool), []).append(secs)
        if rss:
            rss_rows[(scen, tool)] = max(rss_rows.get((scen, tool), 0), rss)
        log("  %-8s %-5s %8.3f s" % (scen, tool, secs))

    def order(k):
        ts = args.tools
        return ts[k % len(ts):] + ts[:k % len(ts)]

    def out_of_time(what):
        if time.perf_counter() > deadline:
            notes.append("time budget spent: fewer repetitions of %s" % what)
            return True
        return False

    # full builds (each from scratch); the last one leaves every tree built
    for k in range(args.repeat_full):
        if k and out_of_time("full"):
            break
        for t in order(k):
            tools[t].clean()
            rec("full", t, tools[t].build(steps), tools[t].last_rss)

    # no-op and one-scene changes, alternately
    for k in range(args.repeat):
        if k and out_of_time("noop/scene"):
            break
        for t in order(k):
            if t == "quire":
                rec("noop-plan", t, tools[t].plan_check(), tools[t].last_rss)
                rec("noop-run", t, tools[t].build(0), tools[t].last_rss)
            else:
                s = tools[t].build(0)
                rec("noop-plan", t, s, tools[t].last_rss)
                rec("noop-run", t, s, tools[t].last_rss)
        for t in order(k):
            append(os.path.join(tools[t].d, "prompts", "scene-0-0.md"), "Revision %d.\n" % k)
            rec("scene", t, tools[t].build(2), tools[t].last_rss)

    # what one scene's revision adds: to .quire, to git after gc, and in format 2's packs
    revb = None
    if "quire" in tools:
        revb = revision_bytes(tools["quire"], args, runner, tmp)

    # reading history (the log, one artefact, a diff, a rewind's preview), and a rewind of
    # the last scene change and back: on the revisions the scene rows made
    hist = None
    if "quire" in tools:
        hist = history_rows(tools["quire"], runner, max(1, args.repeat))

    # the outline changed: everything re-runs
    for k in range(args.repeat_full):
        if k and out_of_time("outline"):
            break
        for t in order(k):
            append(os.path.join(tools[t].d, "prompts", "outline.md"), "Revision %d.\n" % k)
            rec("outline", t, tools[t].build(steps), tools[t].last_rss)

    # quire alone: the mock provider, full run including the manifest commit
    mock = Tool("quire", os.path.join(d, "quire-mock"), runner, args.quire)
    for k in range(args.repeat_full if "quire" in args.tools else 0):
        if k and out_of_time("mock"):
            break
        mock.clean()
        rec("mock", "quire", mock.build(steps), mock.last_rss)

    # the file-system floor of that run: its outputs stored twice, by a C loop and nothing else
    if ("mock", "quire") in times:
        outd = os.path.join(mock.d, "out")
        sizes = [e.stat().st_size for e in os.scandir(outd) if e.is_file()]
        avg = max(1, sum(sizes) // max(1, len(sizes)))
        exe = build_fsfloor(runner, tmp)
        for k in range(len(times[("mock", "quire")]) if exe else 0):
            fd = os.path.join(d, "fsfloor-%d" % k)
            _, _, out, _ = runner.run([exe, fd, str(steps), str(avg)], d)
            rec("fsfloor", "quire", float(out.split()[0]))
            discard(fd)

    # what the mock build left in .quire: blocks used against bytes held (issue 17: <= 2x),
    # and system calls per step from one more mock build under strace -c, when there is one
    disk = store_disk(os.path.join(mock.d, ".quire")) if ("mock", "quire") in times else None
    if disk and STRACE:
        mock.clean()
        trace = os.path.join(tmp, "strace-%d.txt" % n)
        runner.run([STRACE, "-f", "-c", "-o", trace, args.quire, "run", "-j", "2"], mock.d)
        disk["syscalls"] = strace_total(trace)
        log("  mock under strace -c: %d system calls, %.1f per step"
            % (disk["syscalls"], disk["syscalls"] / steps))

    rss = {t: tools[t].peak_rss if t in tools else 0 for t in TOOLS}
    rss["quire"] = max(rss["quire"], mock.peak_rss)
    med = {k: statistics.median(v) for k, v in times.items()}
    cnt = {k: len(v) for k, v in times.items()}
    discard(d)
    return {"size": n, "steps": steps, "book": g["quire_book"], "median": med, "count": cnt,
            "rss_kib": rss, "rss_rows": rss_rows, "notes": notes, "disk": disk,
            "revbytes": revb, "history": hist}


# What git is given of a store: everything but the local files .gitignore leaves out.
COMMITTED = ("manifests", "current", "calls", "revs", "format")


def git_bytes(repo, qdir, runner):
    """Copies the committed parts of qdir into repo/.quire, commits and gc's: the bytes of
    repo/.git/objects afterwards."""
    dst = os.path.join(repo, ".quire")
    os.makedirs(dst, exist_ok=True)
    for name in COMMITTED:
        src = os.path.join(qdir, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dst, name), dirs_exist_ok=True)
        elif os.path.exists(src):
            shutil.copy(src, dst)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    runner.run(git + ["add", "-A"], repo)
    runner.run(git + ["commit", "-q", "-m", "revision", "--allow-empty"], repo)
    runner.run(git + ["gc", "-q"], repo)
    return store_disk(os.path.join(repo, ".git", "objects"))["content"]


def part_bytes(qdir):
    """Bytes held under qdir by part: revs/ (the revisions' packs), quire.db (with its WAL),
    blobs/, runs/ and the rest."""
    parts = {}
    for root, _, names in os.walk(qdir):
        rel = os.path.relpath(root, qdir).split(os.sep)[0]
        for name in names:
            try:
                size = os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
            key = rel if rel in ("revs", "blobs", "runs") else (
                "quire.db" if name.startswith("quire.db") else "other")
            parts[key] = parts.get(key, 0) + size
    return parts


def revision_bytes(tool, args, runner, tmp):
    """One scene's prompt changed once more: the bytes its revision adds to .quire (and of
    that, its pack in revs/ and quire.db's growth) and to a git repository after gc."""
    if not shutil.which("git"):
        return None
    q = os.path.join(tool.d, ".quire")
    repo = tempfile.mkdtemp(prefix="git-", dir=tmp)
    runner.run(["git", "init", "-q"], repo)
    g0 = git_bytes(repo, q, runner)
    q0 = store_disk(q)["content"]
    p0 = part_bytes(q)
    append(os.path.join(tool.d, "prompts", "scene-0-0.md"), "Measured.\n")
    tool.build(2)
    p1 = part_bytes(q)
    res = {"quire": store_disk(q)["content"] - q0, "git": git_bytes(repo, q, runner) - g0,
           "pack": p1.get("revs", 0) - p0.get("revs", 0),
           "db": p1.get("quire.db", 0) - p0.get("quire.db", 0),
           "blobs": p1.get("blobs", 0) - p0.get("blobs", 0)}
    # The target leaves out the new outputs, prompts and responses themselves: blobs/.
    res["net"] = res["quire"] - res["blobs"]
    discard(repo)
    log("  one scene's revision adds %d bytes to .quire (new blobs %d; the rest %d: its pack %d, "
        "quire.db %d), %d to git after gc"
        % (res["quire"], res["blobs"], res["net"], res["pack"], res["db"], res["git"]))
    return res


# What history_rows measures: key, the command's arguments after `quire`, its row's name.
HISTORY = (("log", ["log"], "`quire log`"),
           ("inspect", ["inspect", "Scene[0][1]"], "one artefact, `quire inspect 'Scene[0][1]'`"),
           ("diff", ["diff", "current~1", "current"], "the last change, `quire diff`"),
           ("preview", ["rewind", "current~1", "--preview"],
            "a rewind's preview, `rewind current~1 --preview`"),
           ("gc", ["gc", "--dry-run"], "what every revision names, `quire gc --dry-run`"),
           ("fsck", ["fsck"], "every revision and blob checked, `quire fsck`"))


def history_rows(tool, runner, repeat):
    """The readers of history on the revisions the scene rows made (issue 17, point 3): each
    of HISTORY `repeat` times (median seconds, largest peak RSS), then the last scene change
    undone with `rewind current~1 --yes` and done again the same way (both timed), with what
    the first rewind added to .quire besides blobs (a revision that costs what it changed)."""
    res = {}

    def timed(key, argv):
        secs, _, _, rss = runner.run([tool.quire] + argv, tool.d)
        res.setdefault(key, []).append((secs, rss))
    for _ in range(repeat):
        for key, argv, _ in HISTORY:
            timed(key, argv)
    q = os.path.join(tool.d, ".quire")

    def settled():
        # quire.db's write-ahead log folded in first: its size is pages written, not held
        db = sqlite3.connect(os.path.join(q, "quire.db"))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return store_disk(q)["content"], part_bytes(q).get("blobs", 0)
    c0, b0 = settled()
    timed("rewind", ["rewind", "current~1", "--yes"])
    c1, b1 = settled()
    added = (c1 - c0) - (b1 - b0)
    timed("rewind", ["rewind", "current~1", "--yes"])
    out = {k: (statistics.median(x[0] for x in v), max(x[1] for x in v)) for k, v in res.items()}
    log("  history: " + ", ".join("%s %.3f s %.1f MiB" % (k, v[0], v[1] / 1024.0)
                                  for k, v in out.items())
        + "; the rewind added %d bytes besides blobs" % added)
    out["rewind_bytes"] = added
    return out


def store_disk(qdir):
    """Bytes the files under qdir use on disk (their blocks), the bytes they hold, and how
    many there are."""
    used = held = files = 0
    for root, _, names in os.walk(qdir):
        for name in names:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            used += st.st_blocks * 512
            held += st.st_size
            files += 1
    return {"used": used, "content": held, "files": files}


def strace_total(path):
    """The total number of calls in an strace -c summary."""
    with open(path) as f:
        for line in f:
            parts = line.split()
            # "100.00  19.17  29  640320  27448 total": percent, seconds, usecs/call, calls
            if parts and parts[-1] == "total" and len(parts) >= 5:
                return int(parts[3])
    return 0


# ---- quire alone: hashing and concurrency -------------------------------------------------

def build_fsfloor(runner, tmp):
    exe = os.path.join(tmp, "fsfloor")
    if os.path.exists(exe):
        return exe
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    runner.run([cc, "-O2", "-std=c17", os.path.join(HERE, "fsfloor.c"), "-o", exe], tmp)
    return exe


def find_libquire(quire):
    build = os.path.dirname(os.path.dirname(os.path.abspath(quire)))
    lib = os.path.join(build, "core", "libquire.a")
    return lib if os.path.exists(lib) else None


def bench_hash(args, runner, tmp):
    lib = find_libquire(args.quire)
    cc = shutil.which("cc") or shutil.which("gcc")
    openssl = shutil.which("openssl")
    if not (lib and cc and openssl):
        return {"skipped": "needs cc, openssl and the build's core/libquire.a next to --quire"}
    exe = os.path.join(tmp, "hashfile")
    inc = os.path.join(ROOT, "core", "include")
    cflags = []
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "jansson"], capture_output=True,
                                text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        pass
    runner.run([cc, "-O2", "-std=c17", "-I", inc] + cflags +
               [os.path.join(HERE, "hashfile.c"), lib, "-lcrypto", "-ljansson", "-lpthread",
                "-o", exe], tmp)
    big = os.path.join(tmp, "big.bin")
    size = args.hash_mib << 20
    chunk = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(args.hash_mib):
            f.write(chunk)
    q, o = [], []
    try:
        for k in range(args.repeat):
            # alternate; each tool reads the file from the page cache
            for which in (("q", "o") if k % 2 == 0 else ("o", "q")):
                if which == "q":
                    _, _, out, _ = runner.run([exe, big, "1"], tmp)
                    q.append(float(out.split()[0]))
                    qd = out.split()[2]
                else:
                    secs, _, out, _ = runner.run([openssl, "dgst", "-sha256", big], tmp)
                    o.append(secs)
                    od = "sha256:" + out.split("=")[-1].strip()
        if qd != od:
            raise BenchError("quire and openssl disagree on the digest: %s vs %s" % (qd, od))
    finally:
        os.unlink(big)
    gib = size / float(1 << 30)
    return {"quire_s": statistics.median(q), "openssl_s": statistics.median(o),
            "quire_gibs": gib / statistics.median(q), "openssl_gibs": gib / statistics.median(o),
            "mib": args.hash_mib}


CONC_BLUEPRINT = """\
blueprint: bench-concurrency
version: 1
inputs:
  Items: { type: int, default: %d, min: 1, max: 100000 }
producers:
  Item:
    foreach: { i: Items }
    role: slow
    prompt: prompts/item.md
    output: { type: text, ext: md }
"""


def bench_concurrency(args, runner, tmp):
    d = os.path.join(tmp, "concurrency")
    os.makedirs(os.path.join(d, "prompts"))
    n, ms, j = args.conc_jobs, args.conc_ms, args.conc_j
    gen.write(os.path.join(d, "blueprint.yaml"), CONC_BLUEPRINT % n)
    gen.write(os.path.join(d, "inputs.yaml"), "Items: %d\n" % n)
    gen.write(os.path.join(d, "prompts", "item.md"), "Item {{i}}.\n")
    gen.write(os.path.join(d, "quire.yaml"),
              "quire: 1\nroles:\n  slow: { provider: mock, model: mock-writer, "
              "params: { latency_ms: %d } }\n" % ms)
    tool = Tool("quire", d, runner, args.quire)
    waves = -(-n // j)
    ideal = waves * ms / 1000.0
    secs = []
    for _ in range(args.repeat):
        tool.clean()
        s, _, out, _ = runner.run([args.quire, "run", "-j", str(j), "--json"], d)
        ev = quire_summary(out)
        if ev.get("produced") != n:
            raise BenchError("concurrency run produced %s of %d" % (ev.get("produced"), n))
        secs.append(s)
    shutil.rmtree(d)
    return {"jobs": n, "ms": ms, "j": j, "ideal_s": ideal, "median_s": statistics.median(secs)}


# ---- report ----------------------------------------------------------------------------

def fmt_s(x):
    return "-" if x is None else ("%.3f" % x if x < 10 else "%.1f" % x)


def sz(r):
    n = r["size"]
    return ("%dk" % (n // 1000) if n % 1000 == 0 else str(n)) + " (%d)" % r["steps"]


def fmt_ratio(a, b):
    return "-" if a is None or not b else "%.2f" % (a / b)


def verdict(ratio, limit):
    if limit is None or ratio is None:
        return "-"
    return ("<= %.1fx " % limit) + ("PASS" if ratio <= limit else "FAIL")


def report(results, hashr, conc, args):
    lines = []
    head = ("| scenario | size (steps) | quire | ninja | make | quire/ninja | quire/make | target | n |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    lines += head
    fails = []
    for scen in ("full", "noop-plan", "noop-run", "scene", "outline"):
        for r in results:
            m = r["median"]
            q, nj, mk = (m.get((scen, t)) for t in TOOLS)
            if q is None and nj is None:
                continue
            lim = TARGETS.get((scen, r["size"]))
            ratio = q / nj if q is not None and nj else None
            v = verdict(ratio, lim)
            if v.endswith("FAIL"):
                fails.append("%s at %d: %.2fx ninja (target <= %.1fx)"
                             % (SCENARIO_NAMES[scen], r["size"], ratio, lim))
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
                SCENARIO_NAMES[scen], sz(r), fmt_s(q), fmt_s(nj), fmt_s(mk),
                fmt_ratio(q, nj), fmt_ratio(q, mk), v, r["count"].get((scen, "quire"), 0)))
    for r in results:
        rs = {t: r["rss_kib"][t] / 1024.0 for t in TOOLS}
        if not rs["quire"] and not rs["ninja"]:
            continue
        lim = TARGETS.get(("rss", r["size"]))
        ratio = rs["quire"] / rs["ninja"] if rs["ninja"] else None
        v = verdict(ratio, lim)
        if v.endswith("FAIL"):
            fails.append("peak RSS at %d: %.2fx ninja" % (r["size"], ratio))
        lines.append("| %s | %s | %.1f | %.1f | %.1f | %s | %s | %s | - |" % (
            SCENARIO_NAMES["rss"], sz(r), rs["quire"], rs["ninja"], rs["make"],
            fmt_ratio(rs["quire"], rs["ninja"]), fmt_ratio(rs["quire"], rs["make"]), v))

    # issue 17: peak RSS <= ninja's in every row, at 10k and 100k (the mock row against
    # ninja's full build, the nearest thing ninja does)
    lines.append("")
    lines.append("| peak RSS by row (MiB) | size (steps) | quire | ninja | make | quire/ninja | target |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for scen in ("full", "noop-plan", "noop-run", "scene", "outline", "mock"):
        for r in results:
            rr = r.get("rss_rows", {})
            q = rr.get((scen, "quire"))
            if not q:
                continue
            other = "full" if scen == "mock" else scen
            nj, mk = rr.get((other, "ninja")), rr.get((other, "make"))
            lim = 1.0 if r["size"] >= 10000 else None
            ratio = q / nj if nj else None
            v = verdict(ratio, lim)
            if v.endswith("FAIL"):
                fails.append("peak RSS of '%s' at %d: %.2fx ninja's (target <= 1.0x)"
                             % (SCENARIO_NAMES.get(scen, "mock provider, full run"), r["size"], ratio))
            lines.append("| %s | %s | %.1f | %s | %s | %s | %s |" % (
                SCENARIO_NAMES.get(scen, "mock provider, full run"), sz(r), q / 1024.0,
                "%.1f" % (nj / 1024.0) if nj else "-", "%.1f" % (mk / 1024.0) if mk else "-",
                fmt_ratio(q, nj), v))

    lines.append("")
    lines.append("| quire alone | size (steps) | measured | compared with | ratio | target |")
    lines.append("| --- | --- | ---: | --- | ---: | --- |")
    for r in results:
        mk = r["median"].get(("mock", "quire"))
        nj = r["median"].get(("noop-run", "ninja"))
        if mk is None:
            continue
        lim = 10.0 if r["size"] == 10000 else None
        ratio = mk / nj if nj else None
        v = verdict(ratio, lim)
        if v.endswith("FAIL"):
            fails.append("mock full run at 10k: %.1fx ninja's no-op (target <= 10x)" % ratio)
        lines.append("| mock provider, full run + commit (s) | %s | %s | ninja no-op %s s | %s | %s |"
                     % (sz(r), fmt_s(mk), fmt_s(nj), fmt_ratio(mk, nj), v))
        dk = r.get("disk")
        if dk:
            ratio = dk["used"] / max(1, dk["content"])
            v = "<= 2.0x " + ("PASS" if ratio <= 2.0 else "FAIL")
            if ratio > 2.0:
                fails.append(".quire on disk at %d: %.2fx its content" % (r["size"], ratio))
            lines.append("| `.quire` on disk after that run (MB, %d files) | %s | %.1f | "
                         "content %.1f MB | %.2f | %s |" % (dk["files"], sz(r), dk["used"] / 1e6,
                                                          dk["content"] / 1e6, ratio, v))
            if dk.get("syscalls"):
                lines.append("| system calls per step of that run (strace -c -f) | %s | %.1f | "
                             "- | - | - |" % (sz(r), dk["syscalls"] / r["steps"]))
        rb = r.get("revbytes")
        if rb:
            for label, key in (("bytes one scene's revision adds to `.quire`", "quire"),
                               ("of which new blobs (outputs, prompts, responses)", "blobs"),
                               ("of which the rest (the target's measure)", "net"),
                               ("of which its pack, `.quire/revs/`", "pack"),
                               ("of which quire.db's events", "db"),
                               ("the same revision, to a git repository after `git gc`", "git")):
                if key not in rb:
                    continue
                if key in ("quire", "blobs"):
                    lines.append("| %s | %s | %d | - | - | - |" % (label, sz(r), rb[key]))
                    continue
                ok = rb[key] <= 64 * 1024
                if not ok and key in ("net", "git"):
                    fails.append("%s at %d: %d bytes (target <= 64 KB)" % (label, r["size"], rb[key]))
                lines.append("| %s | %s | %d | - | - | <= 64 KB %s |"
                             % (label, sz(r), rb[key], "PASS" if ok else "FAIL"))
        fl = r["median"].get(("fsfloor", "quire"))
        if fl:
            lines.append("| file-system floor of that run, bench/fsfloor.c (s) | %s | %s | "
                         "ninja no-op %s s | %s | - |" % (sz(r), fmt_s(fl), fmt_s(nj), fmt_ratio(fl, nj)))
    for r in results:
        h = r.get("history")
        if not h:
            continue
        nj = r["median"].get(("noop-run", "ninja"))
        sc = r["median"].get(("scene", "quire"))
        for key, _, name in HISTORY + (("rewind", None, "a rewind of one scene's change, and back"),):
            if key not in h:
                continue
            secs, rss = h[key]
            target, v = "-", "-"
            if key == "log" and r["size"] >= 100000:
                ok = secs < 0.1 and rss <= 32 * 1024
                v = "< 0.1 s, <= 32 MiB " + ("PASS" if ok else "FAIL")
                if not ok:
                    fails.append("the log at %d: %.3f s, %.1f MiB (target < 0.1 s, 32 MiB)"
                                 % (r["size"], secs, rss / 1024.0))
            if key == "inspect" and nj:
                target = "ninja no-op %s s" % fmt_s(nj)
                v = "<= 1.0x " + ("PASS" if secs <= nj else "FAIL")
                if secs > nj:
                    fails.append("one artefact's provenance at %d: %.2fx ninja's no-op"
                                 % (r["size"], secs / nj))
            if key in ("preview", "rewind") and sc:
                target = "quire, one scene %s s" % fmt_s(sc)
            lines.append("| %s (s; peak MiB) | %s | %s; %.1f | %s | %s | %s |"
                         % (name, sz(r), fmt_s(secs), rss / 1024.0, target,
                            fmt_ratio(secs, nj if key == "inspect" else
                                      sc if key in ("preview", "rewind") else None), v))
        if "rewind_bytes" in h:
            ok = h["rewind_bytes"] <= 64 * 1024
            if not ok:
                fails.append("a rewind of one scene at %d adds %d bytes besides blobs "
                             "(target <= 64 KB)" % (r["size"], h["rewind_bytes"]))
            lines.append("| bytes that rewind adds to `.quire` besides blobs | %s | %d | - | - | "
                         "<= 64 KB %s |" % (sz(r), h["rewind_bytes"], "PASS" if ok else "FAIL"))
    by = {r["size"]: r for r in results}
    if 10000 in by and 100000 in by:
        for scen in ("noop-plan", "noop-run"):
            a = by[10000]["median"].get((scen, "quire"))
            b = by[100000]["median"].get((scen, "quire"))
            if a and b:
                ratio = b / a
                v = ("<= 12 " + ("PASS" if ratio <= 12 else "FAIL"))
                if ratio > 12:
                    fails.append("growth 100k/10k of %s: %.1f" % (SCENARIO_NAMES[scen], ratio))
                lines.append("| growth: %s, 100k / 10k | - | %s s | %s s at 10k | %.1f | %s |"
                             % (SCENARIO_NAMES[scen], fmt_s(b), fmt_s(a), ratio, v))
    if hashr:
        if "skipped" in hashr:
            lines.append("| SHA-256 of a file | - | skipped | %s | - | - |" % hashr["skipped"])
        else:
            ratio = hashr["quire_gibs"] / hashr["openssl_gibs"]
            v = ">= 0.9x " + ("PASS" if ratio >= 0.9 else "FAIL")
            if ratio < 0.9:
                fails.append("hashing: %.2fx openssl's throughput" % ratio)
            lines.append("| SHA-256 of a %d MiB file, quire_hash_file (GiB/s) | - | %.2f | "
                         "openssl dgst -sha256 %.2f GiB/s | %.2f | %s |"
                         % (hashr["mib"], hashr["quire_gibs"], hashr["openssl_gibs"], ratio, v))
    if conc:
        ratio = conc["median_s"] / conc["ideal_s"]
        v = "<= 1.15x " + ("PASS" if ratio <= 1.15 else "FAIL")
        if ratio > 1.15:
            fails.append("concurrency: %.2fx the ideal time" % ratio)
        lines.append("| concurrency: %d mock jobs x %d ms at -j%d (s) | %d | %s | ideal %s s | %.2f | %s |"
                     % (conc["jobs"], conc["ms"], conc["j"], conc["jobs"], fmt_s(conc["median_s"]),
                        fmt_s(conc["ideal_s"]), ratio, v))
    notes = []
    for r in results:
        if r["book"] != "exec":
            notes.append("size %d: quire's Book is the mock provider echoing the joined scenes "
                         "(its input list does not fit in one exec; see bench/gen.py)" % r["size"])
        for x in r["notes"]:
            notes.append("size %d: %s" % (r["size"], x))
    return lines, fails, notes


def machine():
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    vers = {}
    for name, argv in (("ninja", ["ninja", "--version"]), ("make", ["make", "--version"]),
                       ("quire", None)):
        if argv:
            try:
                vers[name] = subprocess.run(argv, capture_output=True, text=True,
                                            timeout=30).stdout.splitlines()[0].strip()
            except (OSError, subprocess.SubprocessError, IndexError):
                vers[name] = "?"
    return "%d CPUs, load average %s; %s; %s" % (os.cpu_count() or 0, load, "ninja " +
                                                 vers["ninja"], vers["make"])


def build_type(quire):
    """The meson build type and sanitizers of the build directory holding quire, if known."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(quire)))
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    bt = "%s, -O%s" % (opts.get("buildtype"), opts.get("optimization"))
    if opts.get("b_sanitize") not in (None, "none"):
        bt += ", sanitize=%s" % opts["b_sanitize"]
    return bt


def default_quire():
    for p in (os.path.join(ROOT, "build", "cli", "quire"), shutil.which("quire")):
        if p and os.path.exists(p):
            return p
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000",
                    help="comma-separated instance counts (default 1000,10000; 100000 is the "
                         "issue's large size)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="repetitions of the cheap scenarios: no-op, scene change, hashing, "
                         "concurrency (default 3)")
    ap.add_argument("--repeat-full", type=int, default=1,
                    help="repetitions of the scenarios that run every step: full build, "
                         "outline change, mock run (default 1)")
    ap.add_argument("--quire", default=None, help="the quire binary (default build/cli/quire)")
    ap.add_argument("--book", choices=("auto", "exec", "echo"), default="auto",
                    help="passed to gen.py (default auto)")
    ap.add_argument("--timeout", type=int, default=1800, help="limit per command, seconds")
    ap.add_argument("--budget", type=int, default=1500,
                    help="after this many seconds, repetitions beyond the first are skipped "
                         "(default 1500)")
    ap.add_argument("--hash-mib", type=int, default=1024, help="hashing file size (0: skip)")
    ap.add_argument("--conc-jobs", type=int, default=200)
    ap.add_argument("--conc-ms", type=int, default=100)
    ap.add_argument("--conc-j", type=int, default=16)
    ap.add_argument("--no-conc", action="store_true", help="skip the concurrency run")
    ap.add_argument("--tools", default="quire,ninja,make",
                    help="comma-separated subset of quire,ninja,make (default all three)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results as JSON")
    args = ap.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        ap.error("--sizes: comma-separated integers")
    if not sizes or any(s < 4 or s > 1_000_000 for s in sizes):
        ap.error("--sizes: each between 4 and 1000000")
    if not (1 <= args.repeat <= 50 and 1 <= args.repeat_full <= 20):
        ap.error("--repeat 1..50, --repeat-full 1..20")
    if not 0 <= args.hash_mib <= 16384:
        ap.error("--hash-mib 0..16384")
    if not (1 <= args.conc_jobs <= 10000 and 0 <= args.conc_ms <= 10000 and 1 <= args.conc_j <= 256):
        ap.error("--conc-*: out of range")
    args.tools = tuple(t for t in TOOLS if t in args.tools.split(","))
    if not args.tools:
        ap.error("--tools: one or more of quire,ninja,make")
    args.quire = args.quire or default_quire()
    if not args.quire or not os.path.exists(args.quire):
        ap.error("no quire binary: build it (meson setup build && ninja -C build) or pass --quire")
    args.quire = os.path.abspath(args.quire)
    for t in ("ninja", "make"):
        if not shutil.which(t):
            ap.error("%s is not on PATH" % t)

    start = time.perf_counter()
    deadline = start + args.budget
    tmp = tempfile.mkdtemp(prefix="quire-bench-")
    TRASH[:] = [os.path.join(tmp, "trash")]
    os.mkdir(TRASH[0])
    runner = Runner(tmp, args.timeout)
    results, hashr, conc = [], None, None
    before = machine()
    try:
        for n in sizes:
            results.append(bench_size(n, args, runner, tmp, deadline))
        if args.hash_mib and "quire" in args.tools:
            log("hashing %d MiB" % args.hash_mib)
            hashr = bench_hash(args, runner, tmp)
        if not args.no_conc and "quire" in args.tools:
            log("concurrency: %d jobs x %d ms at -j%d" % (args.conc_jobs, args.conc_ms, args.conc_j))
            conc = bench_concurrency(args, runner, tmp)
    except BenchError as e:
        print("bench: FAILED: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines, fails, notes = report(results, hashr, conc, args)
    print("quire benchmark: %s; medians of wall-clock seconds; n = quire's repetitions"
          % time.strftime("%Y-%m-%d %H:%M"))
    print("machine before: %s" % before)
    print("machine after:  %s" % machine())
    bt = build_type(args.quire)
    print("quire: %s (%s)" % (args.quire, bt or "build type unknown"))
    if bt and not bt.startswith("release"):
        print("warning: quire is not a release build; configure one with "
              "`meson setup build-release --buildtype=release` and pass --quire")
    print()
    print("\n".join(lines))
    print()
    for x in notes:
        print("note: " + x)
    print("targets missed: %d%s" % (len(fails), "".join("\n  - " + f for f in fails)))
    print("benchmark took %.0f s" % (time.perf_counter() - start))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": [dict(r, median={"%s/%s" % k: v for k, v in r["median"].items()},
                                        count={"%s/%s" % k: v for k, v in r["count"].items()},
                                        rss_rows={"%s/%s" % k: v
                                                  for k, v in r.get("rss_rows", {}).items()})
                                   for r in results],
                       "hash": hashr, "concurrency": conc, "fails": fails}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
