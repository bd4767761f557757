#!/usr/bin/env python3
"""Crash and fault soak for quire: kills runs at random instants, fills the disk, makes the
provider fail, and checks after each what quire promises (docs/design-notes.md, "What you
can rely on"):

  corrupt           the store is damaged (quire fsck finds damage), or a command that should
                    work fails (a crash, exit 5)
  reported-but-lost an instance a killed run reported as produced or cached has no event in
                    the event log after the kill (a line printed as done must be durable)
  redone            an instance produced twice for the same fingerprint (paid for twice)

It prints one line per scenario and a total, and exits 1 unless every count is zero.
Usage: soak.py QUIRE [--kills N] [--seed S] [--disk N] [--work DIR]
"""
import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

COUNTS = {"corrupt": 0, "reported-but-lost": 0, "redone": 0}
DETAILS = []


STOP = False  # --stop: leave at the first problem, with the project as it was


def problem(kind, what):
    COUNTS[kind] += 1
    if len(DETAILS) < 40:
        DETAILS.append("%s: %s" % (kind, what))
    if STOP:
        print("soak: stopped at the first problem: %s: %s" % (kind, what))
        sys.exit(1)


class Project:
    def __init__(self, quire, root, env):
        self.quire, self.root, self.env = quire, root, env
        self.generation = 0

    def q(self, *args, timeout=300, env=None):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([self.quire, *args], cwd=self.root, env=e, timeout=timeout,
                              capture_output=True, text=True)

    def query(self, sql, args=()):
        # Opened and closed per question: a connection left open would hold the file (and
        # the tmpfs it is on) after the round.
        db = sqlite3.connect(os.path.join(self.root, ".quire", "quire.db"), timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def last_run(self):
        rows = self.query("select max(id) from runs")
        return rows[0][0] if rows else None

    def events(self, run):
        return {(k, s) for k, s in self.query(
            "select kind, subject from events where run = ?", (run,))}

    def new_work(self):
        """Changes the premise so everything is generated again, with new fingerprints."""
        self.generation += 1
        r = self.q("edit", "--set", "Premise=A keeper answers letter %d to the light."
                   % self.generation)
        if r.returncode != 0:
            problem("corrupt", "edit --set failed (%d): %s" % (r.returncode, r.stderr.strip()))

    def check_store(self, where):
        r = self.q("fsck")
        if r.returncode != 0:
            problem("corrupt", "%s: fsck exit %d: %s" % (where, r.returncode,
                                                          (r.stdout + r.stderr).strip()[-400:]))
        r = self.q("plan", "--json")
        if r.returncode not in (0,):
            problem("corrupt", "%s: plan exit %d: %s" % (where, r.returncode, r.stderr.strip()))
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            problem("corrupt", "%s: plan printed no JSON" % where)
            return None

    def redone(self):
        """(subject, fingerprint) produced more than once in the whole event log."""
        return self.query(
            "select subject, json_extract(data, '$.fingerprint'), count(*) from events "
            "where kind = 'artefact.produced' group by 1, 2 having count(*) > 1")


def reported(output):
    """Ids reported as produced, cached or failed by a run's --json output, as event kinds."""
    got = set()
    for line in output.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line cut by the kill
        if e.get("event") in ("produced", "cached", "failed"):
            got.add(("artefact." + e["event"], e["id"]))
    return got


def make_project(quire, base, name, chapters, scenes, env):
    root = os.path.join(base, name)
    r = subprocess.run([quire, "init", root], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("soak: quire init failed: " + r.stderr)
    path = os.path.join(root, "inputs.yaml")
    text = open(path).read()
    out = []
    for line in text.splitlines():
        if line.startswith("Chapters:"):
            line = "Chapters: %d" % chapters
        elif line.startswith("Scenes:"):
            line = "Scenes: %d" % scenes
        out.append(line)
    open(path, "w").write("\n".join(out) + "\n")
    return Project(quire, root, env)


def kill_scenario(quire, base, kills, rng, env):
    """Runs killed with SIGKILL at random instants, at -j2 and -j8, with mock latency so the
    kills land mid-job, some with the mock failing now and then."""
    p = make_project(quire, base, "kills", 6, 6, env)
    done = mid = nsaid = 0
    # Ids reported as produced since the inputs last changed: produced again before the next
    # change, one was paid for twice.
    paid = set()
    while done < kills:
        plan = p.check_store("before kill %d" % done)
        if plan is not None and plan.get("dirty", 0) == 0:
            p.new_work()
            paid = set()
        jobs = rng.choice(["2", "8"])
        extra = {"QUIRE_MOCK_LATENCY_MS": str(rng.choice([10, 30, 80, 150]))}
        if rng.random() < 0.25:
            extra["QUIRE_MOCK_FLAKY"] = "Scene[*][1],Chapter[2]"  # ids, as globs
        if rng.random() < 0.15:
            # A provider that refuses some instances: their failure lines must be durable too.
            extra["QUIRE_MOCK_FAIL"] = "Scene[%d][*]" % rng.randrange(6)
        e = dict(p.env)
        e.update(extra)
        proc = subprocess.Popen([quire, "run", "-j", jobs, "--json"], cwd=p.root, env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.02, 1.2))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        if proc.returncode != -signal.SIGKILL:
            # Finished before the kill: a normal end must be a clean one.
            if proc.returncode not in (0, 1):
                problem("corrupt", "run %d exit %s: %s" % (done, proc.returncode, err.strip()))
        said = reported(out)
        for kind, sid in sorted(said):
            if kind == "artefact.produced" and sid in paid:
                problem("redone", "kill %d: %s produced again" % (done, sid))
            if kind == "artefact.produced":
                paid.add(sid)
        if said and proc.returncode == -signal.SIGKILL:
            mid += 1
            nsaid += len(said)
        if said:
            run = p.last_run()
            missing = said - p.events(run)
            for kind, sid in sorted(missing):
                problem("reported-but-lost", "kill %d: %s %s" % (done, kind, sid))
        done += 1
    # Finish: the next run recovers and completes; the store must be sound.
    r = p.q("run", "-j", "4", "--json")
    for kind, sid in sorted(reported(r.stdout)):
        if kind == "artefact.produced" and sid in paid:
            problem("redone", "final run: %s produced again" % sid)
    if r.returncode not in (0, 1):
        problem("corrupt", "final run exit %d: %s" % (r.returncode, r.stderr.strip()))
    p.check_store("after the kills")
    for subject, fp, n in p.redone():
        problem("redone", "%s %s produced %d times" % (subject, fp, n))
    return mid, nsaid


def can_mount():
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                          capture_output=True).returncode == 0


def disk_scenario(quire, base, rounds, rng, env, script):
    """Runs on a small tmpfs filled to a random level: the run stops with exit 5 (or
    completes); nothing reported is lost, and after space is freed nothing is redone. Each
    round runs in its own mount namespace (this script again, with --disk-round)."""
    if not can_mount():
        return "skipped (no mount namespace here)"
    rounds_said = []
    for k in range(rounds):
        free_kib = rng.choice([2048, 3072, 4096, 6144, 7168, 9000])
        r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", sys.executable,
                            script, quire, "--disk-round", str(free_kib),
                            "--work", os.path.join(base, "disk%d" % k)],
                           capture_output=True, text=True, env=env, timeout=600)
        for line in r.stdout.splitlines():
            if line.startswith("ROUND "):
                rounds_said.append(line[6:])
            if line.startswith("COUNT "):
                _, kind, what = line.split(" ", 2)
                problem(kind, "disk round %d: %s" % (k, what))
        if r.returncode not in (0,):
            problem("corrupt", "disk round %d ended %d: %s" % (k, r.returncode,
                                                                r.stderr.strip()[-300:]))
    return "%d rounds (%s)" % (rounds, "; ".join(rounds_said))


def disk_round(quire, work, free_kib, env):
    """One round, inside a private mount namespace: prints COUNT lines for what failed."""
    os.makedirs(work, exist_ok=True)
    mnt = os.path.join(work, "disk")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt], check=True)

    def count(kind, what):
        print("COUNT %s %s" % (kind, what), flush=True)

    try:
        p = make_project(quire, mnt, "s", 20, 20, env)
        st = os.statvfs(mnt)
        avail = st.f_bavail * st.f_frsize
        filler = os.path.join(mnt, "filler")
        if avail > free_kib * 1024:
            subprocess.run(["fallocate", "-l", str(avail - free_kib * 1024), filler], check=True)
        e = dict(env)
        e["QUIRE_MOCK_LATENCY_MS"] = "2"
        r = subprocess.run([quire, "run", "-j", "4", "--json"], cwd=p.root, env=e,
                           capture_output=True, text=True, timeout=300)
        print("ROUND free %d KiB: exit %d, %d reported" % (free_kib, r.returncode,
                                                          len(reported(r.stdout))), flush=True)
        if r.returncode not in (0, 5):
            count("corrupt", "run on a full disk exit %d: %s" % (r.returncode,
                                                                  r.stderr.strip()[-200:]))
        said = reported(r.stdout)
        run = p.last_run()
        if said and run is not None:
            for kind, sid in sorted(said - p.events(run)):
                count("reported-but-lost", "%s %s" % (kind, sid))
        if os.path.exists(filler):
            os.unlink(filler)
        r = subprocess.run([quire, "run", "-j", "4", "--json"], cwd=p.root, env=env,
                           capture_output=True, text=True, timeout=300)
        for kind, sid in sorted(reported(r.stdout) & said):
            if kind == "artefact.produced":
                count("redone", "%s produced again after space was freed" % sid)
        if r.returncode != 0:
            count("corrupt", "run after freeing space exit %d: %s" % (r.returncode,
                                                                       r.stderr.strip()[-200:]))
        r = subprocess.run([quire, "fsck"], cwd=p.root, env=env, capture_output=True,
                           text=True)
        if r.returncode != 0:
            count("corrupt", "fsck: " + (r.stdout + r.stderr).strip()[-200:])
        for subject, fp, n in p.redone():
            count("redone", "%s produced %d times" % (subject, n))
    finally:
        subprocess.run(["umount", mnt])
    return 0


def write_junit(path, seed):
    """One test case per count, so that scripts/summary.py counts the soak in CI's line."""
    from xml.sax.saxutils import quoteattr, escape
    cases = []
    for kind in ("corrupt", "reported-but-lost", "redone"):
        name = quoteattr("soak (seed %d): %s is zero" % (seed, kind))
        if COUNTS[kind]:
            body = escape("\n".join(d for d in DETAILS if kind in d) or "%d" % COUNTS[kind])
            cases.append("<testcase name=%s><failure message=%s>%s</failure></testcase>"
                         % (name, quoteattr("%d" % COUNTS[kind]), body))
        else:
            cases.append("<testcase name=%s/>" % name)
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="soak">'
                + "".join(cases) + "</testsuite></testsuites>\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("quire")
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--disk", type=int, default=6, help="full-disk rounds")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--work", default=None)
    ap.add_argument("--stop", action="store_true",
                    help="stop at the first problem, keeping the project as it was")
    ap.add_argument("--junit", default=None,
                    help="also write the three counts as JUnit test cases to this file")
    ap.add_argument("--disk-round", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global STOP
    STOP = a.stop
    quire = os.path.abspath(a.quire)
    env = dict(os.environ)
    env.pop("QUIRE_MOCK_FAIL", None)
    env["NO_COLOR"] = "1"
    if a.disk_round is not None:
        sys.exit(disk_round(quire, a.work, a.disk_round, env))
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    base = a.work or tempfile.mkdtemp(prefix="quire-soak-")
    if STOP:
        print("soak: working in %s" % base, flush=True)
    env["HOME"] = os.path.join(base, "home")
    os.makedirs(env["HOME"], exist_ok=True)
    t0 = time.time()
    mid, nsaid = kill_scenario(quire, base, a.kills, rng, env)
    print("soak: %d kills (seed %d) in %.0f s: %d landed after reports (%d reported there)"
          % (a.kills, seed, time.time() - t0, mid, nsaid), flush=True)
    t1 = time.time()
    disk = disk_scenario(quire, base, a.disk, rng, env, os.path.abspath(__file__))
    print("soak: full disk: %s in %.0f s" % (disk, time.time() - t1), flush=True)
    for d in DETAILS:
        print("  " + d)
    print("soak: corrupt %d, reported-but-lost %d, redone %d" % (
        COUNTS["corrupt"], COUNTS["reported-but-lost"], COUNTS["redone"]))
    ok = not any(COUNTS.values())
    if a.junit:
        write_junit(a.junit, seed)
    if ok and not a.work:
        shutil.rmtree(base, ignore_errors=True)
    elif not ok:
        print("soak: the projects are kept in %s" % base)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
