#!/usr/bin/env python3
"""Prints one 'N passed, N failed' line from meson's logs: every TAP subtest counts (JUnit),
and a test program that failed without reporting a failing subtest (a crash, a sanitizer
abort) counts as one more failure (testlog.json)."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    suites_failed = set()
    try:
        # meson copies a test's output into the XML as is: a control character from a
        # crashing child (an escape, a NUL) makes the file ill-formed, and a suite that failed
        # would then count as one failure. Such characters carry no result: drop them.
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)
        text = re.sub(r"&#(?:x0*[0-8bcefBCEF]|x0*1[0-9a-fA-F]|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));", "", text)
        root = ET.fromstring(text)
    except (OSError, ET.ParseError) as e:
        print(f"summary: cannot read {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                suites_failed.add(suite.get("name", ""))
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    # meson's JSON log beside its JUnit one (testlog-valgrind.json for a --setup valgrind run)
    log = (path[: -len(".junit.xml")] + ".json" if path.endswith(".junit.xml")
           else os.path.join(os.path.dirname(path), "testlog.json"))
    try:
        with open(log) as f:
            for line in f:
                t = json.loads(line)
                if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
                    continue
                if not any(t.get("name", "") in s for s in suites_failed):
                    failed += 1
    except OSError:
        pass
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
