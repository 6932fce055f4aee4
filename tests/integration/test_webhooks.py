"""Webhooks (API.md, "Events and webhooks"): managed by admin calls,
delivered by the courier as Standard Webhooks, signed, retried on the
schedule, honouring Retry-After, disabled by 410, every attempt recorded,
and each event sent by exactly one instance."""
import base64
import collections
import concurrent.futures
import os
import re
import signal
import time

import pytest

from harness import problem, wait_for, weekday_ahead
from receiver import Receiver

FAST = {"webhooks": {"retry_schedule": "1s, 1s, 1s, 1s", "timeout": "2"}}
UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def subscribe(s, receiver, events=("appointment.booked",
                                   "appointment.cancelled",
                                   "appointment.rescheduled")):
    status, hdrs, hook = s.post("/webhooks", {"url": receiver.url,
                                              "events": list(events)})
    assert status == 201, hook
    receiver.secret = hook["secret"]
    return hook


def book(s, day, n=1):
    slots = s.get_json(f"/slots?date={day}")[2]["slots"]
    sid = [x["id"] for x in slots if x["booked"] < x["capacity"]][0]
    out = []
    for _ in range(n):
        status, _, doc = s.post("/appointments", {"slotId": sid})
        assert status == 201, doc
        out.append(doc)
    return out


def attempts(s, hook):
    status, _, doc = s.get_json(f"/webhooks/{hook['id']}/deliveries")
    assert status == 200, doc
    return doc["deliveries"]


def test_manage_webhooks(pg, db, slotd):
    status, hdrs, hook = slotd.post("/webhooks", {
        "url": "https://hooks.example.org/slotd",
        "events": ["appointment.booked", "waitlist.offered"],
        "description": "the platform's mailer"})
    assert status == 201, hook
    assert hdrs["location"] == f"/webhooks/{hook['id']}"
    secret = hook.pop("secret")
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret[6:])) <= 64
    assert hook["enabled"] is True and hook["url"].endswith("/slotd")
    assert UTC.match(hook["createdAt"]) and UTC.match(hook["updatedAt"])
    # The secret is shown once.
    status, _, got = slotd.get_json(f"/webhooks/{hook['id']}")
    assert status == 200 and got == hook
    second = slotd.post("/webhooks", {"url": "http://127.0.0.1:9/x",
                                      "events": ["appointment.cancelled"]})
    assert second[0] == 201 and second[2]["secret"] != secret
    assert second[2]["description"] is None
    status, _, doc = slotd.get_json("/webhooks")
    assert [w["id"] for w in doc["webhooks"]] == [hook["id"],
                                                  second[2]["id"]]
    assert all("secret" not in w for w in doc["webhooks"])
    status, _, patched = slotd.send_json("PATCH", f"/webhooks/{hook['id']}",
                                         {"enabled": False,
                                          "events": ["appointment.booked"],
                                          "description": None})
    assert status == 200, patched
    assert patched["enabled"] is False and patched["description"] is None
    assert patched["events"] == ["appointment.booked"]
    assert patched["url"] == hook["url"]
    assert slotd.delete(f"/webhooks/{hook['id']}")[0] == 204
    problem(slotd.get_json(f"/webhooks/{hook['id']}"), 404,
            "webhook-not-found")
    problem(slotd.delete(f"/webhooks/{hook['id']}"), 404,
            "webhook-not-found")
    problem(slotd.send_json("PATCH", f"/webhooks/{hook['id']}",
                            {"enabled": True}), 404, "webhook-not-found")
    problem(slotd.get_json("/webhooks/abc"), 404, "webhook-not-found")
    problem(slotd.get_json(f"/webhooks/{hook['id']}/deliveries"), 404,
            "webhook-not-found")


@pytest.mark.parametrize("body,field", [
    ({"url": "ftp://x.org/h", "events": ["appointment.booked"]}, "url"),
    ({"url": "https://", "events": ["appointment.booked"]}, "url"),
    ({"url": "https://a.org/h#x", "events": ["appointment.booked"]}, "url"),
    ({"url": "https://a.org/ h", "events": ["appointment.booked"]}, "url"),
    ({"events": ["appointment.booked"]}, "url"),
    ({"url": "https://a.org/h"}, "events"),
    ({"url": "https://a.org/h", "events": []}, "events"),
    ({"url": "https://a.org/h", "events": "appointment.booked"}, "events"),
    ({"url": "https://a.org/h",
      "events": ["appointment.booked", "appointment.made"]}, "events[1]"),
    ({"url": "https://a.org/h",
      "events": ["appointment.booked", "appointment.booked"]}, "events[1]"),
    ({"url": "https://a.org/h", "events": ["appointment.booked"],
      "description": "x" * 501}, "description"),
    ({"url": "https://a.org/h", "events": ["appointment.booked"],
      "description": 5}, "description"),
])
def test_bad_webhooks_are_refused(pg, db, slotd, body, field):
    doc = problem(slotd.post("/webhooks", body), 400, "invalid-field")
    assert doc.get("field") == field or field in doc["detail"], doc
    assert slotd.get_json("/webhooks")[2] == {"webhooks": []}


def test_bad_patches_and_fields(pg, db, slotd):
    problem(slotd.post("/webhooks", {"url": "https://a.org/h",
                                     "events": ["appointment.booked"],
                                     "secret": "mine"}),
            400, "unknown-field")
    problem(slotd.post("/webhooks", {"url": "https://a.org/h",
                                     "events": ["appointment.booked"],
                                     "enabled": False}),
            400, "unknown-field")
    hook = slotd.post("/webhooks", {"url": "https://a.org/h",
                                    "events": ["appointment.booked"]})[2]
    problem(slotd.send_json("PATCH", f"/webhooks/{hook['id']}",
                            {"enabled": "no"}), 400, "invalid-field")
    problem(slotd.send_json("PATCH", f"/webhooks/{hook['id']}",
                            {"url": "mailto:a@b"}), 400, "invalid-field")
    problem(slotd.get_json(f"/webhooks/{hook['id']}/deliveries?limit=0"),
            400, "bad-request")
    assert slotd.get_json(f"/webhooks/{hook['id']}")[2]["url"] == \
        "https://a.org/h"


def test_webhooks_are_for_admins(pg, db, start_slotd, tmp_path):
    from test_calendars import bearer, secured
    s = secured(start_slotd, tmp_path)
    problem(s.post("/webhooks", {"url": "https://a.org/h",
                                 "events": ["appointment.booked"]},
                   bearer()), 403, "forbidden")
    problem(s.get_json("/webhooks", bearer()), 403, "forbidden")
    problem(s.get_json("/webhooks"), 401, "unauthorized")
    assert s.get_json("/webhooks", bearer(sub="ops", role="admin"))[0] == 200


def test_delivery_is_signed_and_is_the_event(pg, db, start_slotd, receiver):
    s = start_slotd(extra=FAST)
    hook = subscribe(s, receiver, ["appointment.booked"])
    (appt,) = book(s, weekday_ahead(2))
    wait_for(lambda: len(receiver.deliveries) == 1, timeout=5)
    d = receiver.deliveries[0]
    assert receiver.bad_signatures == []
    assert d.headers["content-type"] == "application/json"
    assert abs(int(d.headers["webhook-timestamp"]) - time.time()) < 30
    (event,) = s.get_json("/events")[2]["events"]
    assert d.id == event["id"]
    assert d.doc == event and d.doc["data"] == appt
    # Cancels are not subscribed: not sent.
    assert s.delete(f"/appointments/{appt['id']}")[0] == 204
    wait_for(lambda: attempts(s, hook) and
             attempts(s, hook)[0]["status"] == 204, timeout=5)
    (a,) = attempts(s, hook)
    assert a == {"eventId": event["id"], "attempt": 1, "status": 204,
                 "error": None, "at": a["at"], "nextAttemptAt": None}
    time.sleep(1.5)
    assert len(receiver.deliveries) == 1


def test_failures_are_retried_until_they_succeed(pg, db, start_slotd):
    calls = collections.Counter()

    def answer(d):
        calls[d.id] += 1
        return (500, {}, 0) if calls[d.id] <= 2 else (200, {}, 0)

    r = Receiver(answer)
    try:
        s = start_slotd(extra=FAST)
        hook = subscribe(s, r, ["appointment.booked"])
        book(s, weekday_ahead(2))
        wait_for(lambda: len(r.deliveries) == 3, timeout=10)
        assert len({d.id for d in r.deliveries}) == 1
        assert r.bad_signatures == []
        wait_for(lambda: len(attempts(s, hook)) == 3, timeout=5)
        got = attempts(s, hook)
        assert [a["attempt"] for a in got] == [3, 2, 1]
        assert [a["status"] for a in got] == [200, 500, 500]
        assert got[0]["nextAttemptAt"] is None
        assert got[1]["nextAttemptAt"] is not None
        time.sleep(2)
        assert len(r.deliveries) == 3
        assert metric_value(s, 'slotd_webhook_deliveries_total'
                            '{outcome="retry"}') == 2
    finally:
        r.close()


def test_retry_after_and_giving_up(pg, db, start_slotd):
    r = Receiver(lambda d: (503, {"Retry-After": "3"}, 0))
    try:
        s = start_slotd(extra={"webhooks": {"retry_schedule": "1s",
                                            "timeout": "2"}})
        hook = subscribe(s, r, ["appointment.booked"])
        book(s, weekday_ahead(2))
        wait_for(lambda: len(r.deliveries) == 2, timeout=10)
        gap = r.deliveries[1].at - r.deliveries[0].at
        assert gap >= 2.9, gap
        # The schedule had one delay: two attempts, then none.
        time.sleep(2)
        assert len(r.deliveries) == 2
        got = attempts(s, hook)
        assert [a["status"] for a in got] == [503, 503]
        assert got[0]["nextAttemptAt"] is None
        assert pg.psql(db, "SELECT state FROM slotd_deliveries")[0][0] == \
            "failed"
    finally:
        r.close()


def test_410_disables_the_webhook(pg, db, start_slotd):
    r = Receiver(lambda d: (410, {}, 0))
    try:
        s = start_slotd(extra=FAST)
        hook = subscribe(s, r, ["appointment.booked"])
        book(s, weekday_ahead(2))
        wait_for(lambda: s.get_json(f"/webhooks/{hook['id']}")[2]
                 ["enabled"] is False, timeout=5)
        book(s, weekday_ahead(2))
        time.sleep(2)
        assert len(r.deliveries) == 1
    finally:
        r.close()


def test_a_webhook_hears_what_happens_after_it_listens(pg, db, start_slotd,
                                                     receiver):
    """Events of changes made before a webhook was created, or while it
    was disabled, are not queued for it, even when nothing had numbered
    them yet; GET /events still has them."""
    s = start_slotd(extra=FAST)
    day = weekday_ahead(2)
    (before,) = book(s, day)
    # A long history nothing numbered (no webhook, no poller): copies of
    # that event, written an hour ago.
    pg.psql(db, "INSERT INTO slotd_events (type, at, appointment_id, "
            "slot_ids, status, created_at, updated_at) SELECT type, "
            "at - interval '1 hour', appointment_id, slot_ids, status, "
            "created_at, updated_at FROM slotd_events, generate_series(1, "
            "5000)")
    hook = subscribe(s, receiver, ["appointment.booked"])
    (after,) = book(s, day)
    # The first claims number the history in bulk (4,096 events a claim,
    # not one claim's 32): the new event is not kept waiting long behind it.
    wait_for(lambda: receiver.ids(), timeout=15)
    events = s.get_json("/events?after=5001")[2]["events"]
    assert [e["data"]["id"] for e in events] == [after["id"]]
    assert receiver.ids() == [events[0]["id"]]
    events = [s.get_json("/events?limit=1")[2]["events"][0], events[0]]
    assert events[0]["data"]["id"] == before["id"]
    wait_for(lambda: attempts(s, hook), timeout=5)
    assert [a["eventId"] for a in attempts(s, hook)] == [events[1]["id"]]
    assert pg.psql(db, "SELECT count(*) FROM slotd_deliveries")[0][0] == "1"
    # Off, then on again: what was booked meanwhile is not sent.
    for enabled in (False, True):
        status, _, doc = s.send_json("PATCH", f"/webhooks/{hook['id']}",
                                     {"enabled": enabled})
        assert status == 200 and doc["enabled"] is enabled
        if not enabled:
            (meanwhile,) = book(s, day)
    (again,) = book(s, day)
    wait_for(lambda: len(receiver.ids()) == 2, timeout=5)
    events = s.get_json("/events?after=5002")[2]["events"]
    assert [e["data"]["id"] for e in events] == [meanwhile["id"],
                                                 again["id"]]
    assert receiver.ids()[1:] == [events[1]["id"]]
    assert pg.psql(db, "SELECT count(*) FROM slotd_deliveries")[0][0] == "2"


def test_timeouts_and_refused_connections_are_retried(pg, db, start_slotd):
    slow = {"n": 0}

    def answer(d):
        slow["n"] += 1
        return (200, {}, 4 if slow["n"] == 1 else 0)

    r = Receiver(answer)
    try:
        s = start_slotd(extra=FAST)
        hook = subscribe(s, r, ["appointment.booked"])
        book(s, weekday_ahead(2))
        wait_for(lambda: len(attempts(s, hook)) == 2, timeout=15)
        got = attempts(s, hook)
        assert got[1]["status"] is None and "timeout" in got[1]["error"]
        assert got[0]["status"] == 200
        # A receiver that is not there at all.
        s.send_json("PATCH", f"/webhooks/{hook['id']}",
                    {"url": "http://127.0.0.1:9/nobody"})
        book(s, weekday_ahead(3))
        wait_for(lambda: len(attempts(s, hook)) >= 3, timeout=5)
        assert attempts(s, hook)[0]["status"] is None
        assert attempts(s, hook)[0]["error"]
    finally:
        r.close()


def metric_value(s, sample):
    for line in s.get("/metrics")[2].decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(sample)


def courier_pid(s):
    """The courier's pid, from its start line in the (debug) log."""
    pids = re.findall(r"courier started, pid (\d+)", s.log_text())
    return int(pids[-1])


def test_exactly_once_across_instances_and_failures(pg, db, start_slotd):
    """Two instances share the work: each event reaches the webhook once,
    through a receiver that fails, times out and recovers, a courier
    killed mid-delivery (at least once there, with the same webhook-id),
    a reload and a database restart."""
    lock = {"down": False}
    calls = collections.Counter()
    accepted = collections.Counter()    # answered 2xx in time

    def answer(d):
        calls[d.id] += 1
        if lock["down"]:
            return (503, {}, 0)
        n = int(d.id)
        if n % 7 == 0 and calls[d.id] == 1:
            return (500, {}, 0)
        if n % 11 == 0 and calls[d.id] == 1:
            return (200, {}, 3)         # past the 2 s timeout
        accepted[d.id] += 1
        return (200, {}, 0)

    r = Receiver(answer)
    extra = {"webhooks": {"retry_schedule": "1s, 1s, 1s, 1s, 1s, 1s",
                          "timeout": "2", "concurrency": "8"},
             "server": {"log_level": "debug"}}
    try:
        a = start_slotd(extra=extra, schedule={"capacity": "500"})
        b = start_slotd(extra=extra, schedule={"capacity": "500"})
        subscribe(a, r)
        day = weekday_ahead(2)
        sid = [x["id"] for x in a.get_json(f"/slots?date={day}")[2]
               ["slots"]][0]

        def one(i):
            s = (a, b)[i % 2]
            for _ in range(50):
                status, _, doc = s.post("/appointments", {"slotId": sid})
                if status == 201:
                    return doc["id"]
                time.sleep(0.1)     # 503 while the database restarts
            raise AssertionError(f"booking {i} never succeeded")

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            done = list(ex.map(one, range(100)))
            os.kill(courier_pid(a), signal.SIGKILL)
            done += list(ex.map(one, range(100, 160)))
            b.proc.send_signal(signal.SIGHUP)
            done += list(ex.map(one, range(160, 220)))
            pg.stop()
            time.sleep(0.5)
            pg.start()
            a.wait_ready()
            b.wait_ready()
            lock["down"] = True
            done += list(ex.map(one, range(220, 300)))
            lock["down"] = False
        assert len(set(done)) == 300
        total = int(pg.psql(db, "SELECT count(*) FROM slotd_events")[0][0])
        assert total == 300
        wait_for(lambda: set(accepted) == {str(i) for i in range(1, 301)}
                 and pg.psql(db, "SELECT count(*) FROM slotd_deliveries "
                             "WHERE state <> 'delivered'")[0][0] == "0",
                 timeout=180, what="every event delivered")
        assert r.bad_signatures == []
        # Each accepted once, but for what the killed courier had in
        # flight: sent again, under the same id.  (An answer that came
        # after the courier's timeout, on a loaded machine, is a recorded
        # failure and sent again too: that is at least once as well.)
        failed = {row[0] for row in pg.psql(
            db, "SELECT DISTINCT event_id FROM slotd_delivery_attempts "
            "WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND "
            "299")}
        doubled = [i for i, n in accepted.items() if n > 1
                   and i not in failed]
        assert len(doubled) <= 8, doubled
    finally:
        r.close()


def test_a_backlog_of_10000_drains(pg, db, start_slotd):
    """10,000 bookings while the receiver is down: once it is up, each
    event arrives once, and the backlog gauge goes back to 0."""
    r = Receiver()
    port = r.port
    r.close()                       # down: connections are refused
    s = start_slotd(schedule={"capacity": "1000"}, extra={
        "webhooks": {"retry_schedule": "2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s",
                     "concurrency": "32"},
        "rate_limit": {"writes_per_second": "100000",
                       "writes_burst": "10000"}})
    status, _, hook = s.post("/webhooks", {"url": r.url,
                                           "events": ["appointment.booked"]})
    assert status == 201
    slots = []
    for day in (weekday_ahead(1), weekday_ahead(2)):
        slots += [x["id"] for x in s.get_json(f"/slots?date={day}")[2]
                  ["slots"]]
    assert len(slots) >= 10

    def book(i):
        status, _, doc = s.post("/appointments", {"slotId": slots[i % 10]})
        assert status == 201, doc
        return doc["id"]

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        booked = set(ex.map(book, range(10000)))
    assert len(booked) == 10000
    wait_for(lambda: metric_value(s, "slotd_events_oldest_undelivered_"
                                  "seconds") > 0, timeout=10,
             what="the backlog seen")
    accepted = collections.Counter()

    def answer(d):
        accepted[d.id] += 1
        return (204, {}, 0)

    up = Receiver(answer, port=port)
    up.secret = hook["secret"]
    try:
        wait_for(lambda: len(accepted) == 10000, timeout=240,
                 interval=0.5, what="the backlog delivered")
        assert max(accepted.values()) == 1
        assert up.bad_signatures == []
        assert {int(i) for i in accepted} == set(range(1, 10001))
        assert {d.doc["data"]["id"] for d in up.deliveries} == booked
        wait_for(lambda: metric_value(s, "slotd_events_oldest_undelivered"
                                      "_seconds") == 0, timeout=10,
                 what="the backlog gauge back to 0")
        assert pg.psql(db, "SELECT count(*) FROM slotd_deliveries WHERE "
                       "state <> 'delivered'")[0][0] == "0"
    finally:
        up.close()


def test_old_events_are_pruned_unless_awaited(pg, db, start_slotd,
                                              receiver):
    s = start_slotd(extra=FAST)
    hook = subscribe(s, receiver, ["appointment.booked"])
    book(s, weekday_ahead(2), 3)
    wait_for(lambda: len(receiver.deliveries) == 3, timeout=5)
    wait_for(lambda: len(attempts(s, hook)) == 3, timeout=5)
    # Event 1 is old and delivered, event 2 old and still awaited by a
    # webhook, event 3 recent.
    pg.psql(db, "UPDATE slotd_events SET at = now() - interval '31 days' "
            "WHERE id IN (1, 2)")
    pg.psql(db, "UPDATE slotd_deliveries SET state = 'pending', "
            "next_at = now() + interval '1 hour' WHERE event_id = 2")
    assert pg.psql(db, "SELECT slotd_events_prune(30)")[0][0] == "1"
    assert [e["id"] for e in s.get_json("/events")[2]["events"]] == \
        ["2", "3"]
    assert {a["eventId"] for a in attempts(s, hook)} == {"2", "3"}
    assert pg.psql(db, "SELECT slotd_events_prune(30)")[0][0] == "0"


def test_https_receivers_and_redirects(pg, db, start_slotd, tmp_path):
    """Certificates are checked (the system's CAs, or [webhooks] ca_file),
    and a redirect is an answer like any other: not followed."""
    from test_tls import make_ca, make_cert
    make_ca(tmp_path)
    cert = make_cert(tmp_path, "receiver")
    r = Receiver(tls=cert)
    moved = Receiver(lambda d: (302, {"Location": r.url}, 0))
    try:
        s = start_slotd(extra=FAST)
        hook = subscribe(s, r, ["appointment.booked"])
        book(s, weekday_ahead(2))
        wait_for(lambda: attempts(s, hook), timeout=5)
        first = attempts(s, hook)[-1]
        assert first["status"] is None and "certificate" in \
            first["error"].lower(), first
        assert r.deliveries == []
        s.rewrite({"webhooks": {"ca_file": str(tmp_path / "ca.pem")}})
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(r.deliveries) == 1, timeout=10,
                 what="the delivery over verified TLS")
        assert r.bad_signatures == []
        wait_for(lambda: attempts(s, hook)[0]["status"] == 204, timeout=5)
        # A receiver that redirects: 302 is recorded and retried, never
        # followed to the place it names.
        s.send_json("PATCH", f"/webhooks/{hook['id']}", {"url": moved.url})
        book(s, weekday_ahead(3))
        wait_for(lambda: len(moved.deliveries) >= 2, timeout=10)
        assert len(r.deliveries) == 1
        assert attempts(s, hook)[0]["status"] == 302
    finally:
        r.close()
        moved.close()
