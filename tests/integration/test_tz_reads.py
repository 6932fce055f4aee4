"""Reads in several time zones, one after the other: each zone is read
from the zone database once per worker and kept, so that a read in a zone
already used makes no system call on a file (strace on the worker)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.parse

import pytest

from harness import wait_for, weekday_ahead

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo",
         "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata",
         "Africa/Monrovia", "Pacific/Chatham")

# A line of strace -o for a system call (not a signal, nor an exit).
CALL = re.compile(r"^(?:\[pid +\d+\] |\d+ +)?([a-z_0-9]+)\(", re.M)


def worker_pid(s):
    m = wait_for(lambda: re.search(r"worker \d+\[(\d+)\]: serving",
                                   s.log_text()), what="the worker's pid")
    return int(m.group(1))


def read(s, day, zone):
    q = f"/slots?date={day}&tz={urllib.parse.quote(zone, safe='/')}"
    status, _, doc = s.get_json(q)
    assert status == 200, doc
    assert doc["timezone"] == zone and doc["slots"], doc
    return doc


class Strace:
    """strace -f on one process, its calls on files and its accepts."""

    def __init__(self, pid):
        if shutil.which("strace") is None:
            pytest.fail("strace is not installed (./dev installs it)")
        self.dir = tempfile.mkdtemp(prefix="slotd-strace-")
        self.out = os.path.join(self.dir, "trace")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-e", "trace=%file,accept,accept4", "-o",
             self.out, "-p", str(pid)], stderr=self.err)
        wait_for(lambda: self.proc.poll() is not None or
                 "attached" in self.stderr(), what="strace attached")
        if self.proc.poll() is not None:
            text = self.stderr()
            self.close()
            if "Operation not permitted" in text:
                pytest.skip(f"ptrace is not permitted here: {text.strip()}")
            pytest.fail(f"strace failed: {text}")

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self):
        """The names of the calls seen, in order."""
        self.proc.send_signal(signal.SIGINT)     # detaches
        self.proc.wait(timeout=20)
        with open(self.out) as f:
            trace = f.read()
        self.close()
        return CALL.findall(trace), trace

    def close(self):
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_reads_in_kept_zones_touch_no_file(start_slotd):
    s = start_slotd(workers=1, extra={"server": {"log_level": "debug"}})
    pid = worker_pid(s)
    monday = weekday_ahead(0)
    days = [monday.fromordinal(monday.toordinal() + i) for i in range(5)]
    day = days[0]
    for zone in ZONES:                  # each zone read once, and kept
        read(s, day, zone)
    trace = Strace(pid)
    try:
        # Cached answers and new ones, the zone changing at each read.
        for d in days:
            for zone in ZONES:
                read(s, d, zone)
    finally:
        calls, text = trace.stop()
    accepts = [c for c in calls if c.startswith("accept")]
    files = [c for c in calls if not c.startswith("accept")]
    assert len(accepts) >= len(days) * len(ZONES), text[-2000:]
    assert files == [], text[-4000:]
