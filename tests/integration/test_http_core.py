"""slotd's own HTTP/1.1 layer, tried with raw sockets: pipelining, HEAD,
HTTP/1.0, Expect, chunked bodies, request smuggling shapes, limits answered
as problem+json while the request still arrives, unknown methods, the
request deadline, draining, and problem bodies that stay UTF-8."""
import json
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest

from harness import SLOTD_BIN, RowLock, wait_for, weekday_ahead

ALLOC_SO = os.environ.get("SLOTD_ALLOC_SO") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "alloc",
    "count.so")


def connect(s, timeout=5):
    c = socket.create_connection(("127.0.0.1", s.port), timeout=timeout)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


class Reader:
    """Answers read off one connection, one at a time."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def answer(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            assert k.lower() not in hdrs, f"{k} twice"
            hdrs[k.lower()] = v.strip()
        n = 0 if head or status in (100, 204, 304) else \
            int(hdrs["content-length"])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed(self, timeout=5):
        """True when the server closes (EOF, not a reset) with nothing
        more to read."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b"" and self.buf == b""
        except ConnectionResetError:
            return False


def exchange(s, raw, n=1, head=False):
    c = connect(s)
    try:
        c.sendall(raw)
        r = Reader(c)
        return [r.answer(head=head) for _ in range(n)], r
    except Exception:
        c.close()
        raise


def problem_of(answer, status, code):
    got, hdrs, body = answer
    assert got == status, (got, body)
    assert hdrs["content-type"] == "application/problem+json"
    doc = json.loads(body.decode("utf-8"))
    assert doc["status"] == status and doc["code"] == code, doc
    return doc


def get(path, extra=b""):
    return (f"GET {path} HTTP/1.1\r\nHost: t\r\n".encode() + extra +
            b"\r\n")


def booked(pg, db):
    return pg.psql(db, "SELECT count(*) FROM appointments")[0][0]


def test_pipelined_requests_are_answered_in_order(pg, db, slotd):
    day = weekday_ahead(1)
    sid = slotd.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    body = json.dumps({"slotId": sid}).encode()
    post = (b"POST /appointments HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n\r\n" + body)
    raw = (get(f"/slots/{sid}") + post + get(f"/slots/{sid}") +
           get("/healthz") + get(f"/slots?date={day}"))
    answers, r = exchange(slotd, raw, 5)
    assert [a[0] for a in answers] == [200, 201, 200, 200, 200]
    assert json.loads(answers[0][2])["booked"] == 0
    assert json.loads(answers[1][2])["slotId"] == sid
    assert json.loads(answers[2][2])["booked"] == 1
    assert json.loads(answers[4][2])["date"] == str(day)
    r.sock.close()


def test_head_has_the_length_but_no_body(slotd):
    day = weekday_ahead(1)
    c = connect(slotd)
    c.sendall(f"HEAD /slots?date={day} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
              + get(f"/slots?date={day}"))
    r = Reader(c)
    status, hdrs, body = r.answer(head=True)
    assert status == 200 and body == b""
    status2, hdrs2, body2 = r.answer()
    assert status2 == 200
    assert int(hdrs["content-length"]) == len(body2)
    assert hdrs["etag"] == hdrs2["etag"]
    assert re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$",
                    hdrs2["date"])
    c.close()


def test_http_1_0_and_connection_close(slotd):
    (a,), r = exchange(slotd, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert a[0] == 200 and a[1]["connection"] == "close" and r.closed()
    (a, b), r = exchange(slotd, b"GET /healthz HTTP/1.0\r\n"
                         b"Connection: keep-alive\r\n\r\n" +
                         b"GET /healthz HTTP/1.0\r\n\r\n", 2)
    assert a[1]["connection"] == "keep-alive"
    assert b[1]["connection"] == "close" and r.closed()
    (a,), r = exchange(slotd, get("/healthz", b"Connection: close\r\n"))
    assert a[0] == 200 and a[1]["connection"] == "close" and r.closed()


def test_chunked_body_and_expect_continue(pg, db, slotd):
    sid = slotd.get_json(f"/slots?date={weekday_ahead(2)}")[2]["slots"][0][
        "id"]
    body = json.dumps({"slotId": sid}).encode()
    chunked = (b"POST /appointments HTTP/1.1\r\nHost: t\r\n"
               b"Content-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" +
               b"%x\r\n%s\r\n" % (5, body[:5]) +
               b"%x\r\n%s\r\n" % (len(body) - 5, body[5:]) + b"0\r\n\r\n")
    (a,), r = exchange(slotd, chunked)
    assert a[0] == 201 and json.loads(a[2])["slotId"] == sid
    # Expect: 100-continue: the body is sent only after the interim answer.
    c = connect(slotd)
    c.sendall(b"POST /appointments HTTP/1.1\r\nHost: t\r\n"
              b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    r = Reader(c)
    assert r.answer()[0] == 100
    c.sendall(body)
    assert r.answer()[0] == 201
    c.close()
    problem_of(exchange(slotd, get("/healthz", b"Expect: magic\r\n"))[0][0],
               417, "bad-request")
    # An HTTP/1.0 client is never sent 100 (RFC 9110 section 10.1.1).
    (a,), r = exchange(slotd, b"POST /appointments HTTP/1.0\r\n"
                       b"Content-Type: application/json\r\n"
                       b"Expect: 100-continue\r\nContent-Length: " +
                       str(len(body)).encode() + b"\r\n\r\n" + body)
    assert a[0] == 201, a
    assert booked(pg, db) == "3"


def test_smuggling_shapes_are_refused_and_closed(pg, db, slotd):
    sid = slotd.get_json(f"/slots?date={weekday_ahead(3)}")[2]["slots"][0][
        "id"]
    body = json.dumps({"slotId": sid}).encode()
    n = str(len(body)).encode()
    head = b"POST /appointments HTTP/1.1\r\nHost: t\r\n" \
        b"Content-Type: application/json\r\n"
    shapes = [
        b"Content-Length: " + n + b"\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: " + n + b"\r\nContent-Length: 99\r\n",
        b"Content-Length: " + n + b"\r\nContent-Length: " + n + b"\r\n",
        b"Content-Length: +" + n + b"\r\n",
        b"Content-Length: 0x10\r\n",
        b"Content-Length : " + n + b"\r\n",
        b"Transfer-Encoding : chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: " + n + b"\r\nX-Folded: a\r\n b\r\n",
        b"Content-Length:\r\n " + n + b"\r\n",
        b"Content-Length: " + n + b"\r\nX-Folded:\r\n b\r\n",
        b"Content-Length: " + n + b"\r\nX-Folded:  \r\n\tb\r\n",
        b"Transfer-Encoding:\r\n chunked\r\n",
        b"Content-Length: " + n + b"\nX: bare line feed\r\n",
    ]
    for shape in shapes:
        (a,), r = exchange(slotd, head + shape + b"\r\n" + body)
        problem_of(a, 400, "bad-request")
        assert a[1]["connection"] == "close" and r.closed(), shape
    for size in (b"+10", b"0x10", b"-1"):
        (a,), r = exchange(slotd, head + b"Transfer-Encoding: chunked\r\n"
                           b"\r\n" + size + b"\r\n" + body + b"\r\n0\r\n\r\n")
        problem_of(a, 400, "bad-request")
        assert r.closed()
    # Chunk data must end with CRLF, not any two bytes.
    size = b"%x" % len(body)
    (a,), r = exchange(slotd, head + b"Transfer-Encoding: chunked\r\n\r\n" +
                       size + b"\r\n" + body + b"XX0\r\n\r\n" + get("/healthz"))
    problem_of(a, 400, "bad-request")
    assert r.closed()
    # HTTP/1.0 has no chunked framing (RFC 9112 section 6.1).
    (a,), r = exchange(slotd, head.replace(b"HTTP/1.1", b"HTTP/1.0") +
                       b"Transfer-Encoding: chunked\r\n\r\n" + size +
                       b"\r\n" + body + b"\r\n0\r\n\r\n")
    problem_of(a, 400, "bad-request")
    assert r.closed()
    assert booked(pg, db) == "0"


def test_request_lines_and_versions(slotd):
    day = weekday_ahead(1)
    cases = [
        (f"GET  /slots?date={day} HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (f"GET /slots?date={day}  HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (f"GET /slots?date={day} HTTP/1.2\r\nHost: t\r\n\r\n", 505),
        (f"GET /slots?date={day} HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (f"GET /slots?date={day} HTTP/1.1\r\n\r\n", 400),
        (f"GET /slots?date={day} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
         400),
    ]
    for raw, status in cases:
        (a,), r = exchange(slotd, raw.encode())
        problem_of(a, status, "bad-request")
        assert r.closed(), raw
    # A target in absolute form is served by its path and query.
    (a,), _ = exchange(slotd, get(f"/slots?date={day}"))
    (b,), _ = exchange(slotd, get(f"http://t:8080/slots?date={day}"))
    assert b[0] == 200 and b[2] == a[2]
    (a,), _ = exchange(slotd, get("/?x=1"))
    (b,), _ = exchange(slotd, get("HTTP://t?x=1"))
    assert a[0] == b[0] and a[2] == b[2]
    doc = problem_of(exchange(slotd, get("/slots?date=2026-12-02%00junk"))
                     [0][0], 400, "bad-request")
    assert "query" in doc["detail"]


def test_unknown_methods_get_405_with_allow(slotd):
    for method in ("TRACE", "CONNECT", "PROPFIND", "FOO", "get"):
        (a,), r = exchange(slotd, f"{method} /slots HTTP/1.1\r\n"
                           "Host: t\r\n\r\n".encode())
        problem_of(a, 405, "method-not-allowed")
        assert a[1]["allow"] == "GET, HEAD, POST", (method, a[1])
    (a,), _ = exchange(slotd, b"FOO /nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
    problem_of(a, 404, "not-found")
    # OPTIONS lists the same methods, and OPTIONS; nowhere is still 404.
    (a,), _ = exchange(slotd, b"OPTIONS /slots HTTP/1.1\r\nHost: t\r\n\r\n")
    assert a[0] == 204 and a[1]["allow"] == "GET, HEAD, POST, OPTIONS", a
    (a,), _ = exchange(slotd, b"OPTIONS /nowhere HTTP/1.1\r\nHost: t\r\n"
                       b"\r\n")
    problem_of(a, 404, "not-found")


def test_limits_are_problems_answered_early(pg, db, start_slotd):
    s = start_slotd(workers=1)
    problem_of(exchange(s, get("/slots?date=" + "x" * 9000))[0][0], 414,
               "uri-too-long")
    problem_of(exchange(s, get("/healthz", b"".join(
        b"X-%d: v\r\n" % i for i in range(101))))[0][0], 431,
        "headers-too-large")
    # A header block that never ends is refused once it passes the limit.
    c = connect(s)
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000)
    r = Reader(c)
    a = r.answer()
    problem_of(a, 431, "headers-too-large")
    assert r.closed()
    # A body over the limit is refused before it is sent, Expect or not.
    for expect in (b"", b"Expect: 100-continue\r\n"):
        c = connect(s)
        c.sendall(b"POST /appointments HTTP/1.1\r\nHost: t\r\n"
                  b"Content-Type: application/json\r\n" + expect +
                  b"Content-Length: 3000000\r\n\r\n")
        r = Reader(c)
        a = r.answer()
        problem_of(a, 413, "payload-too-large")
        assert a[1]["connection"] == "close" and r.closed()
    assert booked(pg, db) == "0"


def test_request_timeout_is_a_deadline(start_slotd):
    s = start_slotd(workers=1, extra={"server": {"request_timeout": "2"}})
    c = connect(s, timeout=10)
    t0 = time.monotonic()
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    r = Reader(c)
    got = []

    def trickle():
        try:
            for _ in range(8):
                time.sleep(0.5)
                c.sendall(b"X: y\r\n")
        except OSError:
            pass
    t = threading.Thread(target=trickle)
    t.start()
    got.append(r.answer())
    elapsed = time.monotonic() - t0
    t.join()
    problem_of(got[0], 408, "bad-request")
    assert 1.5 < elapsed < 3.5, elapsed
    c.close()


def test_problem_bodies_are_utf8(slotd):
    for raw in (b"GET /slots/\xff\xfe HTTP/1.1\r\nHost: t\r\n\r\n",
                b"GET /appointments/\xc3 HTTP/1.1\r\nHost: t\r\n\r\n",
                b"GET /slots?date=\xe2\x82 HTTP/1.1\r\nHost: t\r\n\r\n"):
        (a,), _ = exchange(slotd, raw)
        assert a[0] in (400, 404), a
        json.loads(a[2].decode("utf-8"))


def test_memory_returns_after_a_flood_of_oversized_requests(start_slotd):
    s = start_slotd(workers=1, extra={"server": {"log_level": "debug"}})
    worker = int(wait_for(lambda: re.search(r"worker 0\[(\d+)\]",
                                            s.log_text())).group(1))

    def rss_kb():
        with open(f"/proc/{worker}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    for _ in range(20):
        s.get("/healthz")
    before = rss_kb()
    # Header blocks that never end, 6 MB each, 16 at once.
    socks = [connect(s) for _ in range(16)]

    def flood(c):
        try:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX: " +
                      b"a" * (6 << 20))
        except OSError:
            pass
    threads = [threading.Thread(target=flood, args=(c,)) for c in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in socks:
        try:
            problem_of(Reader(c).answer(), 431, "headers-too-large")
        except (EOFError, OSError):
            pass
        c.close()
    wait_for(lambda: s.get("/healthz")[0] == 200)
    assert rss_kb() < before + 4096, (before, rss_kb())


def test_draining_answers_what_arrived(pg, db, start_slotd):
    s = start_slotd(workers=1, extra={"database": {"pool_size": "1"}})
    sid = s.get_json(f"/slots?date={weekday_ahead(4)}")[2]["slots"][0]["id"]
    body = json.dumps({"slotId": sid}).encode()
    lock = RowLock(pg, db, sid)
    busy = connect(s, timeout=20)
    busy.sendall(b"POST /appointments HTTP/1.1\r\nHost: t\r\n"
                 b"Content-Type: application/json\r\nContent-Length: " +
                 str(len(body)).encode() + b"\r\n\r\n" + body)
    wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                             "WHERE wait_event_type = 'Lock'") == [["1"]])
    idle = connect(s)
    idle.sendall(get("/healthz"))
    ri = Reader(idle)
    assert ri.answer()[0] == 200
    s.proc.send_signal(signal.SIGTERM)
    assert ri.closed()                       # idle: closed, not reset
    lock.release()
    rb = Reader(busy)
    status, hdrs, _ = rb.answer()
    assert status == 201 and hdrs["connection"] == "close"
    assert rb.closed()
    assert s.proc.wait(timeout=20) == 0


def sanitized():
    """Does the binary under test bring AddressSanitizer's allocator?"""
    with open(SLOTD_BIN, "rb") as f:
        return b"__asan_init" in f.read()


@pytest.mark.skipif(not os.path.exists(ALLOC_SO) or sanitized(),
                    reason="the counting allocator needs a plain build")
def test_cached_reads_allocate_nothing(start_slotd, tmp_path):
    """A thousand cached GET /slots on one connection: the worker's
    count of heap allocations does not move."""
    counts = str(tmp_path / "allocs")
    s = start_slotd(workers=1, env={"LD_PRELOAD": ALLOC_SO,
                                    "SLOTD_ALLOC_COUNT": counts})
    day = weekday_ahead(1)
    c = connect(s)
    r = Reader(c)

    def ask(path, n=1):
        for _ in range(n):
            c.sendall(get(path))
            assert r.answer()[0] == 200
    ask(f"/slots?date={day}", 50)
    worker = int(wait_for(lambda: re.search(
        r"worker 0\[(\d+)\]: access", s.log_text())).group(1))

    def allocations():
        with open(f"{counts}.{worker}", "rb") as f:
            return struct.unpack("<Q", f.read(8))[0]
    before = allocations()
    ask(f"/slots?date={day}", 1000)
    assert allocations() == before
    # The count does count: an answer not in the cache is made anew.
    ask(f"/slots?date={day}&days=2")
    assert allocations() > before
    c.close()
