"""Process life cycle: one segment per instance, clean stop, crashed
children restarted while the instance keeps serving, and connections
spread over the workers."""
import os
import signal
import socket
import subprocess
import time

from harness import SLOTD_BIN, free_port, wait_for
from strace import Strace


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_stop_removes_shared_memory(start_slotd):
    s = start_slotd()
    path = "/dev/shm" + s.shm
    assert os.path.exists(path)
    assert s.stop() == 0
    assert not os.path.exists(path)


def test_segment_in_use_is_named(start_slotd, tmp_path):
    s = start_slotd()
    conf = tmp_path / "other.conf"
    text = open(s.conf).read().replace(f":{s.port}", f":{free_port()}")
    conf.write_text(text)
    r = subprocess.run([SLOTD_BIN, "-c", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert f"shared memory {s.shm} is in use by another slotd" in r.stderr
    assert s.get("/readyz")[0] == 200


def test_crashed_children_are_restarted(pg, db, start_slotd):
    s = start_slotd(workers=2)
    master = s.proc.pid
    before = children(master)
    assert len(before) == 4          # syncer, courier and two workers
    for victim in before:
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in children(master) and
                 len(children(master)) == 4, timeout=5,
                 what="a replacement child")
        wait_for(lambda: s.get("/readyz")[0] == 200, timeout=10)
    assert not set(children(master)) & set(before)
    log = s.log_text()
    assert log.count("killed by signal 9") == 4
    # The new syncer still follows the database.
    sid = pg.psql(db, "SELECT min(id) FROM slots")[0][0]
    pg.psql(db, f"UPDATE slots SET capacity = 11 WHERE id = {sid}")
    wait_for(lambda: s.get_json(f"/slots/{sid}")[2]["capacity"] == 11,
             timeout=5)


def sockets(port, listening):
    """Inodes of the sockets on local port: the listening one, or the
    connections (in any state)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                col = line.split()
                if int(col[1].rsplit(":", 1)[1], 16) == port and \
                        (col[3] == "0A") == listening:
                    inodes.add(col[9])
    return inodes


def held(pid, inodes):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        n += link.startswith("socket:[") and link[8:-1] in inodes
    return n


def workers(s):
    """The children that accept: the syncer and courier hold no
    listening socket."""
    listening = sockets(s.port, True)
    return [pid for pid in children(s.proc.pid) if held(pid, listening)]


def connections_by_pid(port, pids):
    """Connections to port that each process holds."""
    inodes = sockets(port, False)
    return {pid: held(pid, inodes) for pid in pids}


def open_answered(port, count):
    """count keep-alive connections opened at once, each answered once."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10)
             for _ in range(count)]
    for c in conns:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    for c in conns:
        assert c.recv(4096).startswith(b"HTTP/1.1 200 ")
    return conns


def test_a_burst_of_connections_spreads_over_the_workers(start_slotd):
    """Connections opened together (a load balancer filling its pool) do
    not all land on the worker that happened to run first: each of two
    workers holds close to half, in every one of several bursts."""
    s = start_slotd(workers=2)
    pids = workers(s)
    assert len(pids) == 2
    for burst in range(7):
        conns = open_answered(s.port, 64)
        split = sorted(connections_by_pid(s.port, pids).values())
        assert sum(split) == 64
        # The first burst only makes sure both workers are serving.
        assert burst == 0 or split[0] >= 20, split
        for c in conns:
            c.close()
        wait_for(lambda: sum(connections_by_pid(s.port, pids)
                             .values()) == 0, timeout=10,
                 what="the workers closing the connections")


def test_a_stopped_worker_does_not_hold_connections_back(start_slotd):
    """A worker that cannot run (stopped, here) has the fewest connections,
    yet the others take new ones after a moment instead of leaving them
    queued for it."""
    s = start_slotd(workers=2)
    stopped, running = workers(s)
    os.kill(stopped, signal.SIGSTOP)
    try:
        started = time.monotonic()
        conns = open_answered(s.port, 40)
        assert time.monotonic() - started < 5
        assert connections_by_pid(s.port, [running]) == {running: 40}
    finally:
        os.kill(stopped, signal.SIGCONT)
    for c in conns:
        c.close()


def test_a_worker_yields_the_cpu_only_when_busy(start_slotd):
    """A worker answering one request at a time never calls sched_yield:
    it sleeps in its next turn anyway.  One that finds many requests ready
    at once (32 connections sending 8 each, pipelined, while it was
    stopped) yields after such a turn, so that a client sharing its core
    reads its answers."""
    s = start_slotd(workers=1)
    (pid,) = workers(s)
    conns = open_answered(s.port, 32)
    trace = Strace(pid, "trace=sched_yield,epoll_wait")
    try:
        for _ in range(50):
            assert s.get("/healthz")[0] == 200
    finally:
        quiet, text = trace.stop()
    assert quiet.count("epoll_wait") >= 50, text[-2000:]
    assert "sched_yield" not in quiet, text[-2000:]

    trace = Strace(pid, "trace=sched_yield,epoll_wait")
    try:
        os.kill(pid, signal.SIGSTOP)
        try:
            for c in conns:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 8)
        finally:
            os.kill(pid, signal.SIGCONT)
        for c in conns:
            got = b""
            while got.count(b"HTTP/1.1 200 ") < 8:
                data = c.recv(65536)
                assert data, got
                got += data
        # Answered in a later turn: the busy one has ended.
        assert s.get("/healthz")[0] == 200
    finally:
        busy, text = trace.stop()
    assert "sched_yield" in busy, text[-2000:]
    for c in conns:
        c.close()
