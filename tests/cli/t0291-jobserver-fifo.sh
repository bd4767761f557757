#!/bin/bash
# make 4.4's jobserver is a named fifo (MAKEFLAGS=... --jobserver-auth=fifo:PATH). Debian 12
# has make 4.3, so a stand-in plays make here: it makes the fifo, puts N-1 tokens in it (the
# child holds the Nth implicitly), runs quire with that MAKEFLAGS, and counts the tokens left
# in the fifo once quire has exited: all of them must be back, also after Ctrl-C. (The
# project's own default is -j 4, so a quire that ignored the fifo would run 4 at once.)
. "$(dirname "$0")/lib.sh"
new_story s
cat >"$TRASH/fakemake.py" <<'PY'
import json, os, signal, subprocess, sys, time
quire, slots, interrupt = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "int"
fifo = os.path.join(os.environ["TRASH_DIR"], "jobserver.fifo")
if os.path.exists(fifo):
    os.unlink(fifo)
os.mkfifo(fifo, 0o600)
# Held open read-write by "make" for the whole run, as make does.
fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
os.write(fd, b"+" * (slots - 1))
env = dict(os.environ, MAKEFLAGS=" -j%d --jobserver-auth=fifo:%s" % (slots, fifo))
out = open("run.json", "w")
p = subprocess.Popen([quire, "run", "--json"], stdout=out, stderr=subprocess.DEVNULL, env=env)
free = -1
if interrupt:
    # Interrupted once it has taken tokens: every token in use, the fifo empty. (Waiting
    # for a report of as many jobs running as there are slots, not for that many starts:
    # the first start is the Outline's, which ends before the Chapters begin.)
    def running_max():
        n = 0
        for l in open("run.json"):
            try:
                n = max(n, json.loads(l).get("running", 0))
            except ValueError:
                pass  # a line being written
        return n
    deadline = time.time() + 30
    while time.time() < deadline:
        if running_max() >= slots:
            break
        time.sleep(0.02)
    try:
        b = os.read(fd, 64)
    except BlockingIOError:
        b = b""
    free = len(b)
    if b:
        os.write(fd, b)
    p.send_signal(signal.SIGINT)
rc = p.wait()
left = 0
try:
    while True:
        b = os.read(fd, 64)
        if not b:
            break
        left += len(b)
except BlockingIOError:
    pass
ev = [json.loads(l) for l in open("run.json") if l.startswith("{")]
running = max([e.get("running", 0) for e in ev if e["event"] != "summary"] or [0])
print(rc, left, running, free)
PY
out=$(TRASH_DIR="$TRASH" QUIRE_MOCK_LATENCY_MS=150 python3 "$TRASH/fakemake.py" "$QUIRE" 3 run)
set -- $out
is "quire run under a fifo jobserver succeeds" "$1" 0
is "every token is back in the fifo" "$2" 2
check "jobs ran in parallel ($3)" test "$3" -ge 2
check "but never more than make's 3 slots ($3)" test "$3" -le 3
rm -rf .quire out run.json
out=$(TRASH_DIR="$TRASH" QUIRE_MOCK_LATENCY_MS=100 python3 "$TRASH/fakemake.py" "$QUIRE" 2 run)
set -- $out
is "make -j2 (one token in the fifo) bounds quire to 2 ($3)" "$(test "$3" -le 2 && echo ok)" ok
is "the token is back" "$2" 1
rm -rf .quire out run.json
out=$(TRASH_DIR="$TRASH" QUIRE_MOCK_LATENCY_MS=400 python3 "$TRASH/fakemake.py" "$QUIRE" 3 int)
set -- $out
is "while it ran 3 jobs, quire held both tokens (none free in the fifo)" "$4" 0
is "interrupted, quire exits 130" "$1" 130
is "and gives back every token it held" "$2" 2
done_testing
