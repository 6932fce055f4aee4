"""bench scenario 1 on cores of their own: the servers on one core (one
slotd worker, one h2o thread, one nginx worker, each pinned there in
turn) and wrk (one thread) on the other.  On two shared cores a server
that answers faster than the load generator reads leaves wrk no idle
time, and the p99 flat out is mostly wrk waiting for its turn on a core;
here neither waits for the other's CPU, and the tail is the server's.
"""
import os
import subprocess

from harness import Slotd


def family(pid):
    """pid and every process descended from it."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return found


def pin(pid, cpu):
    """pid's process tree, all threads, onto one CPU."""
    for p in family(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(p)],
                       check=True, capture_output=True)


def scenario(pg, db, sched, big, body, day, sec, rounds, table, notes, wrk,
             median_runs, row, H2o, Nginx):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        notes.append("scenario 1 on own cores: needs two CPUs, skipped")
        return
    load, serve = cpus[0], cpus[1]
    s = Slotd(pg, db, schedule=sched, workers=1, extra=big)
    h2, ng = H2o(body, threads=1), Nginx(body, workers=1)
    try:
        for proc in (s.proc, h2.proc, ng.proc):
            pin(proc.pid, serve)
        targets = (f"http://127.0.0.1:{s.port}/slots?date={day}",
                   f"http://127.0.0.1:{h2.port}/slots?date={day}",
                   f"http://127.0.0.1:{ng.port}/slots?date={day}")
        runs = [[] for _ in targets]
        for _ in range(rounds):         # alternately
            for out, target in zip(runs, targets):
                out.append(wrk(target, sec, threads=1, cpu=load))
    finally:
        ng.stop()
        h2.stop()
        s.stop()
    (rs, ps), (rh, ph), (rn, pn) = (median_runs(r) for r in runs)
    notes.append(f"scenario 1 on own cores: servers on CPU {serve}, wrk on "
                 f"CPU {load}")
    row(table, "1 GET /slots req/s, own cores (slotd / h2o)", rs, rh,
        ">= 1.0")
    row(table, "1 GET /slots req/s, own cores (slotd / nginx)", rs, rn,
        ">= 1.1")
    row(table, "1 GET /slots p99 ms, own cores (slotd / h2o)", ps, ph,
        "<= 1.0")
    row(table, "1 GET /slots p99 ms, own cores (slotd / nginx)", ps, pn,
        "<= 1.0")
