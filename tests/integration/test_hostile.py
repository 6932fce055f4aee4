"""Hostile input: request limits answered with problem+json, idle and
half-sent connections that cannot keep a worker from others, and SQL
injection strings through every field."""
import os
import re
import resource
import socket
import time
from urllib.parse import quote

from harness import problem, wait_for, weekday_ahead


def test_request_limits(start_slotd):
    s = start_slotd()
    problem(s.get("/nope?" + "a" * 9000), 414, "uri-too-long")
    problem(s.get("/nope?" + "a" * 8000), 404, "not-found")
    many = {f"X-H{i}": "v" for i in range(101)}
    problem(s.get("/healthz", many), 431, "headers-too-large")
    assert s.get("/healthz", {f"X-H{i}": "v" for i in range(90)})[0] == 200
    problem(s.get("/healthz", {"X-Big": "b" * 17000}), 431,
            "headers-too-large")
    problem(s.post("/appointments", None, raw=b"{" + b" " * 17000 + b"}"),
            413, "payload-too-large")
    tight = start_slotd(extra={"server": {"max_uri_bytes": "1024",
                                          "max_headers": "20",
                                          "max_body_bytes": "2048"}})
    problem(tight.get("/nope?" + "a" * 1100), 414, "uri-too-long")
    problem(tight.get("/healthz", {f"X-H{i}": "v" for i in range(21)}),
            431, "headers-too-large")
    problem(tight.post("/appointments", {"slotId": 1, "note": "n" * 3000}),
            413, "payload-too-large")


def test_idle_and_half_sent_connections(start_slotd):
    s = start_slotd(workers=1, extra={"server": {"request_timeout": "2"}})
    day = weekday_ahead(1)
    idle, partial = [], []
    for _ in range(300):
        idle.append(socket.create_connection(("127.0.0.1", s.port)))
    for _ in range(200):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(f"GET /slots?date={day} HTTP/1.1\r\nHost: x\r\n".encode())
        partial.append(c)
    # The only worker still answers everyone else at once.
    for _ in range(5):
        t0 = time.monotonic()
        assert s.get(f"/slots?date={day}")[0] == 200
        assert time.monotonic() - t0 < 1.0
    # And drops the slow ones after request_timeout.
    def closed(c):
        c.settimeout(0.01)
        try:
            return c.recv(4096) == b"" or True
        except socket.timeout:
            return False
        except OSError:
            return True
    wait_for(lambda: all(closed(c) for c in partial[:20] + idle[:20]),
             timeout=10, interval=0.2, what="slow clients dropped")
    for c in idle + partial:
        c.close()


def cpu_seconds(pids):
    """User and system time the processes have used so far."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])    # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting(start_slotd):
    """Workers out of file descriptors stop accepting for a moment instead
    of spinning on accept(), say so at most once a second, and accept again
    once descriptors are free."""
    s = start_slotd(workers=2)
    procs = [s.proc.pid] + s.children()
    for pid in procs:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (128, 128))
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", s.port)))
        wait_for(lambda: "Too many open files" in s.log_text(),
                 what="a worker out of descriptors")
        before = cpu_seconds(procs[1:])
        lines = s.log_text().count("\n")
        time.sleep(2)                   # a window to measure, not a wait
        assert cpu_seconds(procs[1:]) - before < 0.25
        assert s.log_text().count("\n") - lines < 50
        wait_for(lambda: re.search(r"accept: Too many open files; not "
                                   r"accepting for a moment \(\d+ more "
                                   r"times since the last such line\)$",
                                   s.log_text(), re.M),
                 what="a line that counts the failures not logged")
    finally:
        for c in idle:
            c.close()
    day = weekday_ahead(1)
    wait_for(lambda: s.get(f"/slots?date={day}")[0] == 200,
             what="answers again")
    assert [s.get("/healthz")[0] for _ in range(20)] == [200] * 20


INJECTIONS = ["'; DROP TABLE slots; --", "1 OR 1=1", "\" OR \"\"=\"",
              "Robert'); DROP TABLE appointments;--", "$1", "%s%s%s",
              "1; SELECT pg_sleep(10)", "' UNION SELECT * FROM holds --"]


def test_sql_injection_strings_stay_data(pg, db, start_slotd):
    s = start_slotd()
    day = weekday_ahead(2)
    slots = s.get_json(f"/slots?date={day}")[2]["slots"]
    tables = pg.psql(db, "SELECT count(*) FROM pg_tables WHERE "
                     "schemaname = 'public'")
    for i, evil in enumerate(INJECTIONS):
        status, _, doc = s.post("/appointments", {
            "slotId": slots[i % len(slots)]["id"], "name": evil,
            "note": evil}, {"Idempotency-Key": evil.replace(" ", "_")})
        assert status == 201, doc
        assert doc["name"] == evil and doc["note"] == evil
        assert s.get_json(f"/appointments/{doc['id']}")[2]["name"] == evil
        # Every other field refuses them before any SQL.
        for body in ({"slotId": evil}, {"slotId": 1, "holdId": evil},
                     {"slotId": 1, "email": evil}):
            assert s.post("/appointments", body)[0] == 400
        q = quote(evil, safe="")
        assert s.get(f"/slots?date={q}")[0] == 400
        assert s.get(f"/slots?date={day}&tz={q}")[0] == 400
        assert s.get(f"/appointments/{q}")[0] == 404
        assert s.delete(f"/holds/{q}")[0] == 404
        assert s.get(f"/slots/{q}")[0] == 404
    assert pg.psql(db, "SELECT count(*) FROM pg_tables WHERE "
                   "schemaname = 'public'") == tables
    assert pg.psql(db, "SELECT count(*) FROM appointments") == \
        [[str(len(INJECTIONS))]]
