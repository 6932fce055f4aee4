"""strace -f attached to a running process, for tests that hold a path
to the system calls it makes."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from harness import wait_for

# A line of strace -o for a system call (not a signal, nor an exit).
CALL = re.compile(r"^(?:\[pid +\d+\] |\d+ +)?([a-z_0-9]+)\(", re.M)


class Strace:
    """strace -f on one process, tracing the calls of expr (strace -e)."""

    def __init__(self, pid, expr):
        if shutil.which("strace") is None:
            pytest.fail("strace is not installed (./dev installs it)")
        self.dir = tempfile.mkdtemp(prefix="slotd-strace-")
        self.out = os.path.join(self.dir, "trace")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-e", expr, "-o", self.out, "-p", str(pid)],
            stderr=self.err)
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
        """The names of the calls seen, in order, and the trace."""
        self.proc.send_signal(signal.SIGINT)     # detaches
        self.proc.wait(timeout=20)
        with open(self.out) as f:
            trace = f.read()
        self.close()
        return CALL.findall(trace), trace

    def close(self):
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)
