"""Live availability, GET /slots/stream (API.md "Live availability"): the
head, the snapshot (GET /slots' body and ETag), changes from this and other
instances as events, Last-Event-ID, max_streams, reloads, request_timeout,
HEAD and HTTP/1.0, a real nginx in front, heartbeats, slow clients, and a
thousand streams on one worker."""
import json
import os
import re
import resource
import shutil
import signal
import socket
import struct
import threading
import time

import pytest

from harness import (SLOTD_BIN, NginxServer, metric, problem, wait_for,
                     weekday_ahead)
from sse import Stream, wait_all


def read_view(s, query):
    """GET /slots: its ETag, body bytes and document."""
    status, hdrs, body = s.get(f"/slots?{query}")
    assert status == 200, body
    return hdrs["etag"], body, json.loads(body)


def open_stream(s, query, **kw):
    st = Stream(s.port, query, **kw)
    assert st.status == 200, st.headers
    return st


def apply_event(doc, ev):
    """A slot event applied to a copy of the window's document, as a client
    keeps it: the result is GET /slots' document at the event's id."""
    data = json.loads(ev["data"])
    slots = [x for x in doc["slots"] if x["id"] != data["id"]]
    if not data.get("deleted"):
        slots.append(data)
    slots.sort(key=lambda x: (x["startTime"], x["calendarId"], x["id"]))
    return dict(doc, slots=slots)


def test_head_snapshot_and_tag(slotd):
    day = weekday_ahead(1)
    for query in (f"date={day}",
                  f"date={day}&days=3&available=true&tz=Europe/Berlin",
                  f"date={day}&calendar=1"):
        etag, body, _ = read_view(slotd, query)
        st = open_stream(slotd, query)
        assert st.headers["content-type"] == "text/event-stream"
        assert st.headers["cache-control"] == "no-cache"
        assert st.headers["x-accel-buffering"] == "no"
        assert st.headers["transfer-encoding"] == "chunked"
        assert st.headers["connection"] == "close"
        assert "content-length" not in st.headers
        first = st.next()
        assert first["retry"] == "2000" and first["event"] == "snapshot"
        assert first["data"].encode() == body
        assert first["id"] == etag
        st.close()


def test_refusals(slotd):
    day = weekday_ahead(1)
    for query, status, code in (
            (f"date={day}&limit=1", 400, "bad-request"),
            (f"date={day}&format=simple", 400, "bad-request"),
            ("date=2026-02-30", 400, "invalid-date"),
            (f"date={day}&calendar=77", 404, "calendar-not-found")):
        problem(slotd.get(f"/slots/stream?{query}"), status, code)
    status, hdrs, _ = slotd.request("POST", "/slots/stream")
    assert status == 405 and hdrs["allow"] == "GET, HEAD"
    problem(slotd.request("DELETE", "/slots/stream"), 405,
            "method-not-allowed")


def test_a_booking_on_one_instance_reaches_a_stream_on_another(start_slotd):
    a = start_slotd()
    b = start_slotd()
    day = weekday_ahead(2)
    query = f"date={day}"
    st = open_stream(b, query)
    snap = json.loads(st.next()["data"])
    sid = snap["slots"][3]["id"]
    t0 = time.monotonic()
    status, _, doc = a.post("/appointments", {"slotId": sid})
    assert status == 201, doc
    ev = st.next(timeout=1.0)
    latency = time.monotonic() - t0
    print(f"booking on A to its event on B: {latency * 1000:.1f} ms "
          "(the booking's own round trip included)")
    assert ev["event"] == "slot"
    got = json.loads(ev["data"])
    assert got == b.slot(sid) and got["booked"] == 1
    assert ev["id"] == read_view(b, query)[0]
    assert apply_event(snap, ev) == read_view(b, query)[2]
    # Each change once: nothing more comes for it.
    with pytest.raises(TimeoutError):
        st.next(timeout=0.3)
    st.close()


def test_slots_come_and_go(pg, db, slotd):
    day = weekday_ahead(3)
    query = f"date={day}"
    etag, _, doc = read_view(slotd, query)
    st = open_stream(slotd, query)
    assert st.next()["id"] == etag
    first, second = doc["slots"][0]["id"], doc["slots"][1]["id"]

    def step(expect):
        nonlocal doc
        ev = st.next(timeout=2)
        assert ev["event"] == "slot" and json.loads(ev["data"]) == expect
        doc = apply_event(doc, ev)
        assert ev["id"] == read_view(slotd, query)[0]

    assert slotd.delete(f"/slots/{first}")[0] == 204
    step({"id": first, "deleted": True})
    status, _, new = slotd.post("/slots", {
        "startTime": f"{day}T19:00:00+08:00",
        "endTime": f"{day}T19:30:00+08:00", "capacity": 4})
    assert status == 201, new
    step(new)
    status, _, patched = slotd.send_json("PATCH", f"/slots/{new['id']}",
                                         {"capacity": 6})
    step(patched)
    # Moved to the next day: it leaves this window.
    pg.psql(db, f"UPDATE slots SET start_at = '{day} 20:00+08'::timestamptz "
            "+ interval '1 day', end_at = "
            f"'{day} 20:30+08'::timestamptz + interval '1 day' "
            f"WHERE id = {second}")
    step({"id": second, "deleted": True})
    assert doc == read_view(slotd, query)[2]
    st.close()


def test_available_windows_lose_full_slots(pg, db, slotd):
    day = weekday_ahead(4)
    query = f"date={day}&available=true"
    st = open_stream(slotd, query)
    doc = json.loads(st.next()["data"])
    sid = doc["slots"][0]["id"]
    pg.psql(db, f"UPDATE slots SET booked = capacity WHERE id = {sid}")
    ev = st.next(timeout=2)
    assert json.loads(ev["data"]) == {"id": sid, "deleted": True}
    assert apply_event(doc, ev) == read_view(slotd, query)[2]
    pg.psql(db, f"UPDATE slots SET booked = 0 WHERE id = {sid}")
    ev = st.next(timeout=2)
    assert json.loads(ev["data"]) == slotd.slot(sid)
    st.close()


def test_streams_opened_amid_changes_see_each_change_once(start_slotd):
    """Streams open while changes fan out to 300 others: each event changes
    what its client has, and every client ends with GET /slots."""
    s = start_slotd(workers=1, extra={"server": {"access_log": "off"}})
    day = weekday_ahead(2)
    query = f"date={day}"
    ids = [x["id"] for x in read_view(s, query)[2]["slots"]]
    crowd = [open_stream(s, query) for _ in range(300)]
    done = threading.Event()

    def change():
        for i in range(40):
            s.send_json("PATCH", f"/slots/{ids[i % len(ids)]}",
                        {"capacity": 10 + i})
            time.sleep(0.02)
        done.set()
    t = threading.Thread(target=change)
    t.start()
    late = []
    while not done.is_set():
        late.append(open_stream(s, query))
        time.sleep(0.03)
    t.join()
    etag, _, want = read_view(s, query)
    for st in crowd + late:
        ev = st.next()
        doc = json.loads(ev["data"])
        # The events of one turn come in one chunk and share their id.
        while ev.get("id") != etag or any(":" not in x for x in st.queue):
            ev = st.next(timeout=5)
            changed = apply_event(doc, ev)
            assert changed != doc, ev
            doc = changed
        assert doc == want
        st.close()
    print(f"{len(late)} streams opened amid 40 changes")


def test_last_event_id(pg, db, slotd):
    day = weekday_ahead(1)
    query = f"date={day}"
    etag = read_view(slotd, query)[0]
    st = open_stream(slotd, query, headers=[("Last-Event-ID", etag)])
    first = st.next()
    assert first == {"retry": "2000"}, first
    sid = read_view(slotd, query)[2]["slots"][5]["id"]
    pg.psql(db, f"UPDATE slots SET capacity = 7 WHERE id = {sid}")
    ev = st.next(timeout=2)
    assert ev["event"] == "slot" and json.loads(ev["data"])["capacity"] == 7
    st.close()
    # The tag the client had is stale now: a fresh snapshot.
    etag2, body, _ = read_view(slotd, query)
    assert etag2 == ev["id"] != etag
    st = open_stream(slotd, query, headers=[("Last-Event-ID", etag)])
    first = st.next()
    assert first["event"] == "snapshot" and first["data"].encode() == body
    st.close()


def test_max_streams(start_slotd):
    s = start_slotd(workers=1, extra={"server": {"max_streams": "2"}})
    day = weekday_ahead(1)
    held = [open_stream(s, f"date={day}") for _ in range(2)]
    status, hdrs, body = s.get(f"/slots/stream?date={day}")
    problem((status, hdrs, body), 503, "unavailable")
    assert int(hdrs["retry-after"]) >= 1
    assert metric(s, "slotd_streams_open") == 2
    held.pop().close()
    wait_for(lambda: metric(s, "slotd_streams_open") == 1)
    again = open_stream(s, f"date={day}")
    assert again.next()["event"] == "snapshot"
    for st in held + [again]:
        st.close()
    wait_for(lambda: metric(s, "slotd_streams_open") == 0)


def test_a_reload_ends_streams_and_clients_come_back(pg, db, start_slotd):
    s = start_slotd(workers=1)
    day = weekday_ahead(2)
    st = open_stream(s, f"date={day}")
    st.next()
    before = s.children()
    s.proc.send_signal(signal.SIGHUP)
    assert st.ends(timeout=10) and st.last_chunk
    wait_for(lambda: not set(s.children()) & set(before), timeout=15,
             what="a new generation")
    st = open_stream(s, f"date={day}")
    snap = json.loads(st.next()["data"])
    sid = snap["slots"][0]["id"]
    assert s.post("/appointments", {"slotId": sid})[0] == 201
    assert json.loads(st.next(timeout=2)["data"])["booked"] == 1
    # SIGTERM ends it too, and slotd still stops at once.
    t0 = time.monotonic()
    assert s.stop() == 0 and time.monotonic() - t0 < 5
    assert st.ends() and st.last_chunk


def test_streams_outlive_request_timeout(pg, db, start_slotd):
    s = start_slotd(workers=1, extra={"server": {"request_timeout": "1"}})
    day = weekday_ahead(3)
    st = open_stream(s, f"date={day}")
    sid = json.loads(st.next()["data"])["slots"][2]["id"]
    time.sleep(2.5)
    pg.psql(db, f"UPDATE slots SET capacity = 9 WHERE id = {sid}")
    assert json.loads(st.next(timeout=2)["data"])["capacity"] == 9
    st.close()


def test_head_http_1_0_and_what_follows_a_stream(pg, db, slotd):
    day = weekday_ahead(1)
    # HEAD: the head alone, and the connection goes on.
    c = socket.create_connection(("127.0.0.1", slotd.port), timeout=5)
    c.sendall(f"HEAD /slots/stream?date={day} HTTP/1.1\r\nHost: t\r\n\r\n"
              "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    got = b""
    while got.count(b"\r\n\r\n") < 2 or not got.endswith(b"}"):
        got += c.recv(65536)
    head, rest = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ") and \
        b"text/event-stream" in head
    assert rest.startswith(b"HTTP/1.1 200 ") and b'"ok"' in rest
    c.close()
    # HTTP/1.0: no chunks, the close ends the body.
    st = open_stream(slotd, f"date={day}", version="1.0")
    assert "transfer-encoding" not in st.headers
    assert st.headers["connection"] == "close"
    sid = json.loads(st.next()["data"])["slots"][1]["id"]
    pg.psql(db, f"UPDATE slots SET capacity = 8 WHERE id = {sid}")
    assert json.loads(st.next(timeout=2)["data"])["capacity"] == 8
    st.close()
    # A request pipelined after a stream is never answered.
    st = open_stream(slotd, f"date={day}",
                     extra=b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert st.next()["event"] == "snapshot"
    pg.psql(db, f"UPDATE slots SET capacity = 9 WHERE id = {sid}")
    assert json.loads(st.next(timeout=2)["data"])["capacity"] == 9
    assert b"HTTP/1.1" not in st.body + st.raw
    st.close()


def test_a_stream_open_counts_once_against_reads(start_slotd):
    s = start_slotd(workers=1, extra={"rate_limit": {
        "reads_per_second": "1", "reads_burst": "2"}})
    day = weekday_ahead(1)
    st = open_stream(s, f"date={day}")
    assert s.get(f"/slots?date={day}")[0] == 200
    problem(s.get(f"/slots?date={day}"), 429, "rate-limited")
    st.close()


def test_heartbeat(slotd):
    st = open_stream(slotd, f"date={weekday_ahead(1)}")
    assert st.next()["event"] == "snapshot"
    t0 = time.monotonic()
    assert st.next(timeout=16, comments=True) == {":": ""}
    print(f"first heartbeat after {time.monotonic() - t0:.1f} s")
    st.close()


def test_a_client_that_does_not_read_is_let_go(pg, db, start_slotd):
    s = start_slotd(workers=1, extra={"server": {"access_log": "off"}})
    day = weekday_ahead(1)
    query = f"date={day}&days=31"
    slow = open_stream(s, query, rcvbuf=4096)
    fine = open_stream(s, query)
    seen = []

    def read():
        try:
            while True:
                seen.append(fine.next(timeout=30))
        except (EOFError, OSError):
            pass
    reader = threading.Thread(target=read)
    reader.start()
    wait_for(lambda: seen)
    assert metric(s, "slotd_streams_open") == 2
    # Every slot of 31 days changes, again and again: about 80 kB of
    # events each time, which one client never reads; the kernel's
    # buffers take some megabytes first.
    for rounds in range(1, 101):
        pg.psql(db, "UPDATE slots SET capacity = capacity + 1 WHERE "
                f"start_at >= '{day}' AND start_at < '{day}'::date + 31")
        time.sleep(0.06)
        if metric(s, "slotd_streams_open") == 1:
            break
    print(f"the slow client was let go after {rounds} rounds")
    assert 3 <= rounds < 100
    # The client that reads has every change, and stays.
    want = read_view(s, query)[0]
    wait_for(lambda: seen[-1].get("id") == want, timeout=5)
    assert metric(s, "slotd_streams_open") == 1
    fine.close()
    reader.join()
    slow.close()


class Nginx(NginxServer):
    """nginx as a reverse proxy in front of slotd, as shipped: buffering
    on, HTTP/1.0 to the upstream.  /deaf/ ignores X-Accel-Buffering, to show
    what the header is for."""

    def __init__(self, upstream):
        super().__init__(f"""
            location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
            location /deaf/ {{
                proxy_pass http://127.0.0.1:{upstream}/;
                proxy_ignore_headers X-Accel-Buffering;
            }}""", connections=256)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx")
def test_through_nginx(pg, db, slotd):
    ng = Nginx(slotd.port)
    try:
        day = weekday_ahead(2)
        etag, body, doc = read_view(slotd, f"date={day}")
        st = Stream(ng.port, f"date={day}")
        assert st.status == 200
        # nginx holds back what comes under a path that ignores the
        # header (its head included), so it is read as bytes.
        deaf = socket.create_connection(("127.0.0.1", ng.port), timeout=5)
        deaf.sendall(f"GET /deaf/slots/stream?date={day} HTTP/1.1\r\n"
                     "Host: t\r\n\r\n".encode())
        first = st.next()
        assert first["data"].encode() == body and first["id"] == etag
        sid = doc["slots"][6]["id"]
        t0 = time.monotonic()
        pg.psql(db, f"UPDATE slots SET capacity = 11 WHERE id = {sid}")
        ev = st.next(timeout=1)
        print(f"through nginx: {(time.monotonic() - t0) * 1000:.1f} ms")
        assert json.loads(ev["data"])["capacity"] == 11
        got = b""
        deaf.settimeout(1)
        try:
            while True:
                got += deaf.recv(65536)
        except TimeoutError:
            pass
        assert b'"capacity":11' not in got, got
        st.close()
        deaf.close()
    finally:
        ng.stop()


def test_a_thousand_streams_on_one_worker(pg, db, start_slotd):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    s = start_slotd(workers=1, extra={"server": {"access_log": "off"}})
    day = weekday_ahead(1)
    etag, body, doc = read_view(s, f"date={day}")
    streams = [Stream(s.port, f"date={day}") for _ in range(1000)]
    try:
        assert {st.status for st in streams} == {200}
        snaps = wait_all(streams, lambda st: len(st.queue) > 0)
        assert len(snaps) == 1000
        assert all(st.next(timeout=0)["data"].encode() == body
                   for st in streams)
        assert metric(s, "slotd_streams_open") == 1000
        sid = doc["slots"][8]["id"]
        t0 = time.monotonic()
        pg.psql(db, f"UPDATE slots SET capacity = 5 WHERE id = {sid}")
        when = wait_all(streams, lambda st: len(st.queue) > 0, timeout=10)
        assert len(when) == 1000, f"{1000 - len(when)} streams saw nothing"
        got = {st.next(timeout=0)["data"] for st in streams}
        assert len(got) == 1 and json.loads(got.pop())["capacity"] == 5
        spread = sorted(when.values())
        print(f"1,000 streams: the last saw the change "
              f"{(time.monotonic() - t0) * 1000:.0f} ms after psql began; "
              f"{(spread[-1] - spread[0]) * 1000:.1f} ms from first to "
              "last read")
    finally:
        for st in streams:
            st.close()
    wait_for(lambda: metric(s, "slotd_streams_open") == 0)


ALLOC_SO = os.environ.get("SLOTD_ALLOC_SO") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "alloc",
    "count.so")


def sanitized():
    with open(SLOTD_BIN, "rb") as f:
        return b"__asan_init" in f.read()


@pytest.mark.skipif(not os.path.exists(ALLOC_SO) or sanitized(),
                    reason="the counting allocator needs a plain build")
def test_events_allocate_nothing_per_stream(pg, db, start_slotd, tmp_path):
    """The worker's heap allocations for five changes are the same with
    ten streams of the window as with a hundred."""
    counts = str(tmp_path / "allocs")
    s = start_slotd(workers=1, env={"LD_PRELOAD": ALLOC_SO,
                                    "SLOTD_ALLOC_COUNT": counts})
    day = weekday_ahead(2)
    doc = read_view(s, f"date={day}")[2]
    worker = int(wait_for(lambda: re.search(
        r"worker 0\[(\d+)\]: access", s.log_text())).group(1))

    def allocations():
        with open(f"{counts}.{worker}", "rb") as f:
            return struct.unpack("<Q", f.read(8))[0]

    def five_changes(streams):
        before = allocations()
        for i in range(5):
            sid = doc["slots"][i]["id"]
            pg.psql(db, f"UPDATE slots SET capacity = capacity + 1 "
                    f"WHERE id = {sid}")
            assert len(wait_all(streams, lambda st: any(
                e.get("event") == "slot" for e in st.queue))) == \
                len(streams)
            for st in streams:
                st.queue.clear()
        return allocations() - before

    streams = [open_stream(s, f"date={day}") for _ in range(10)]
    wait_all(streams, lambda st: len(st.queue) > 0)
    for st in streams:
        st.queue.clear()
    few = five_changes(streams)
    streams += [open_stream(s, f"date={day}") for _ in range(90)]
    wait_all(streams, lambda st: len(st.queue) > 0)
    for st in streams:
        st.queue.clear()
    many = five_changes(streams)
    print(f"allocations for 5 changes: {few} with 10 streams, {many} with "
          "100")
    assert many <= few + 20, (few, many)
    for st in streams:
        st.close()
