"""bench scenario 1 on cores of their own: the servers on one core (one
slotd worker, one h2o thread, one nginx worker, all pinned there and
loaded in turn) and wrk (one thread) on the other.  On two shared cores
a server that answers faster than the load generator reads leaves wrk no
idle time, and the p99 flat out is mostly wrk waiting for its turn on a
core; here neither waits for the other's CPU, and the tail is the
server's.  The note says how much of its core each server used: one
that used less than all of it was waiting for wrk.
"""
import contextlib
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


def siblings(cpu):
    """The CPUs that share cpu's core (hyperthreads), cpu included."""
    path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return {cpu}
    found = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        found |= set(range(int(lo), int(hi or lo) + 1))
    return found


def scenario(pg, db, sched, big, body, day, sec, rounds, table, notes, wrk,
             median_runs, vs_servers, cpu_seconds, H2o, Nginx):
    cpus = sorted(os.sched_getaffinity(0))
    load = cpus[0]
    serve = [c for c in cpus if c not in siblings(load)]
    if not serve:
        notes.append("scenario 1 on own cores: needs two cores, skipped")
        return
    serve = serve[0]
    with contextlib.ExitStack() as stack:
        servers = []
        for make in (lambda: Slotd(pg, db, schedule=sched, workers=1,
                                   extra=big),
                     lambda: H2o(body, threads=1),
                     lambda: Nginx(body, workers=1)):
            servers.append(make())
            stack.callback(servers[-1].stop)
            pin(servers[-1].proc.pid, serve)
        runs = [[] for _ in servers]
        busy = [0.0 for _ in servers]
        for _ in range(rounds):         # alternately
            for i, server in enumerate(servers):
                pids = family(server.proc.pid)
                before = cpu_seconds(pids)
                runs[i].append(wrk(f"http://127.0.0.1:{server.port}/slots"
                                   f"?date={day}", sec, threads=1, cpu=load))
                busy[i] += (cpu_seconds(pids) - before) / (sec * rounds)
    notes.append(f"scenario 1 on own cores: servers on CPU {serve}, wrk on "
                 f"CPU {load}; share of their core the servers used: slotd "
                 "{:.2f}, h2o {:.2f}, nginx {:.2f}".format(*busy))
    vs_servers(table, ", own cores", *(median_runs(r) for r in runs))
