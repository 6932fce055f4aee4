"""Appointments, holds, idempotent retries and admin slots (API.md), each
checked against the seats in PostgreSQL and in every instance's table."""
import datetime as dt
import http.client
import json
import threading
import time

import pytest

from harness import problem, wait_for, weekday_ahead

BOOKING = {"max_slots_per_appointment": "2"}


def day_slots(s, day):
    return s.get_json(f"/slots?date={day}")[2]["slots"]


def booked(pg, db, sid):
    return int(pg.psql(db, f"SELECT booked FROM slots WHERE id = {sid}")[0][0])


def seats(pg, db):
    """Every slot's seats taken, and the count of live appointments."""
    return (pg.psql(db, "SELECT id, booked FROM slots ORDER BY id"),
            pg.psql(db, "SELECT count(*) FROM appointments "
                    "WHERE status = 'booked'"))


@pytest.fixture
def booking(start_slotd):
    return start_slotd(schedule=BOOKING)


def test_book_read_back_and_cancel(pg, db, booking):
    s = booking
    sid = day_slots(s, weekday_ahead(1))[0]["id"]
    status, hdrs, doc = s.post("/appointments", {
        "slotId": sid, "name": "Ada Tan", "email": "ada@example.com",
        "note": "first visit"})
    assert status == 201, doc
    assert hdrs["location"] == f"/appointments/{doc['id']}"
    assert list(doc) == ["id", "calendarId", "slotId", "slotIds",
                         "startTime", "endTime", "name", "email", "note",
                         "status", "createdAt", "updatedAt"]
    assert doc["calendarId"] == 1 and doc["updatedAt"] == doc["createdAt"]
    assert doc["slotId"] == sid and doc["slotIds"] == [sid]
    assert (doc["name"], doc["email"], doc["note"], doc["status"]) == \
        ("Ada Tan", "ada@example.com", "first visit", "booked")
    slot = s.slot(sid)
    assert (doc["startTime"], doc["endTime"]) == \
        (slot["startTime"], slot["endTime"])
    assert doc["createdAt"].endswith("+08:00")
    # Read-your-writes: every worker shows the seat at once.
    for _ in range(16):
        assert s.slot(sid)["booked"] == 1
    assert booked(pg, db, sid) == 1

    status, _, got = s.get_json(hdrs["location"])
    assert status == 200 and got == doc
    problem(s.get("/appointments/999999"), 404, "not-found")
    problem(s.get("/appointments/abc"), 404, "not-found")

    status, _, body = s.delete(hdrs["location"])
    assert status == 204 and body is None
    for _ in range(16):
        assert s.slot(sid)["booked"] == 0
    # Cancelling again frees nothing twice.
    pg.psql(db, f"UPDATE slots SET booked = 1 WHERE id = {sid}")
    assert s.delete(hdrs["location"])[0] == 204
    assert booked(pg, db, sid) == 1
    assert s.get_json(hdrs["location"])[2]["status"] == "cancelled"
    problem(s.delete("/appointments/999999"), 404, "not-found")


def test_consecutive_slots(pg, db, booking):
    s = booking
    slots = day_slots(s, weekday_ahead(2))
    first, second = slots[0], slots[1]
    status, _, doc = s.post("/appointments",
                            {"slotId": first["id"], "slots": 2})
    assert status == 201, doc
    assert doc["slotIds"] == [first["id"], second["id"]]
    assert (doc["startTime"], doc["endTime"]) == \
        (first["startTime"], second["endTime"])
    assert booked(pg, db, first["id"]) == booked(pg, db, second["id"]) == 1
    problem(s.post("/appointments", {"slotId": first["id"], "slots": 3}),
            400, "too-many-slots")
    # 11:30 is followed by the lunch break: no run of two from there.
    before_lunch = [x for x in slots if "T11:30" in x["startTime"]][0]
    problem(s.post("/appointments", {"slotId": before_lunch["id"],
                                     "slots": 2}), 409, "not-consecutive")
    assert booked(pg, db, before_lunch["id"]) == 0
    # Cancelling frees every slot of the run.
    assert s.delete(f"/appointments/{doc['id']}")[0] == 204
    assert s.slot(first["id"])["booked"] == s.slot(second["id"])["booked"] \
        == 0


def test_refusals(pg, db, booking):
    s = booking
    sid = day_slots(s, weekday_ahead(3))[4]["id"]
    for _ in range(3):
        assert s.post("/appointments", {"slotId": sid})[0] == 201
    problem(s.post("/appointments", {"slotId": sid}), 409, "slot-full")
    # The database says the same when the table is not asked (a keyed
    # request always goes to the database).
    problem(s.post("/appointments", {"slotId": sid},
                   {"Idempotency-Key": "full-1"}), 409, "slot-full")
    problem(s.post("/appointments", {"slotId": 99999999}), 404,
            "slot-not-found")
    problem(s.post("/appointments", {"slotId": 99999999},
                   {"Idempotency-Key": "nf-1"}), 404, "slot-not-found")
    past = pg.psql(db, "INSERT INTO slots (start_at, end_at, capacity) "
                   "SELECT d, d + interval '30 minutes', 5 FROM (SELECT "
                   "date_trunc('day', now()) - interval '10 days' + "
                   "interval '23 hours' AS d) x RETURNING id")[0][0]
    wait_for(lambda: s.get(f"/slots/{past}")[0] == 200)
    problem(s.post("/appointments", {"slotId": int(past)}), 409,
            "slot-in-past")
    problem(s.post("/appointments", {"slotId": int(past)},
                   {"Idempotency-Key": "past-1"}), 409, "slot-in-past")
    assert booked(pg, db, past) == 0
    assert booked(pg, db, sid) == 3


BAD_BODIES = [
    # (content type, raw body, status, code)
    (None, b'{"slotId":1}', 415, "unsupported-media-type"),
    ("text/plain", b'{"slotId":1}', 415, "unsupported-media-type"),
    ("application/json", b"{", 400, "invalid-json"),
    ("application/json", b"", 400, "invalid-json"),
    ("application/json", b'{"slotId":SID}x', 400, "invalid-json"),
    ("application/json", b'{"slotId":SID} {}', 400, "invalid-json"),
    ("application/json", b'{"slotId":tru}', 400, "invalid-json"),
    ("application/json", b'{"slotId":01}', 400, "invalid-json"),
    ("application/json", b'{"slotId":SID,}', 400, "invalid-json"),
    ("application/json", b"[SID]", 400, "invalid-json"),
    ("application/json", b'{"slotId":SID,"slotId":SID}', 400,
     "invalid-json"),
    ("application/json", b'{"slotId":SID,"name":"\xff\xfe"}', 400,
     "invalid-json"),
    ("application/json", b'{"slotId":SID,"name":"\xc0\xaf"}', 400,
     "invalid-json"),
    ("application/json", b'{"slotId":SID,"name":"\\ud800"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"name":"a\\u0000b"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"extra":1}', 400,
     "unknown-field"),
    ("application/json", b'{"slotId":"SID"}', 400, "invalid-field"),
    ("application/json", b'{"slotId":0}', 400, "invalid-field"),
    ("application/json", b'{"slotId":-1}', 400, "invalid-field"),
    ("application/json", b'{"slotId":1.5}', 400, "invalid-field"),
    ("application/json", b'{"slotId":1e3}', 400, "invalid-field"),
    ("application/json", b'{"slotId":true}', 400, "invalid-field"),
    ("application/json", b'{"slotId":null}', 400, "invalid-field"),
    ("application/json", b'{"slotId":99999999999999999999}', 400,
     "invalid-field"),
    ("application/json", b'{}', 400, "invalid-field"),
    ("application/json", b'{"slotId":SID,"slots":0}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"slots":3}', 400,
     "too-many-slots"),
    ("application/json", b'{"slotId":SID,"slots":"2"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"name":""}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"name":"a\\nb"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"name":7}', 400, "invalid-field"),
    ("application/json", b'{"slotId":SID,"email":"nope"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"email":"a@b"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"email":"a b@c.d"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"holdId":"xyz"}', 400,
     "invalid-field"),
    ("application/json", b'{"slotId":SID,"note":["x"]}', 400,
     "invalid-field"),
]


def test_bad_input_changes_nothing(pg, db, booking):
    s = booking
    sid = day_slots(s, weekday_ahead(4))[2]["id"]
    before = seats(pg, db)
    cases = list(BAD_BODIES) + [
        ("application/json",
         json.dumps({"slotId": sid, "name": "x" * 201}).encode(), 400,
         "invalid-field"),
        ("application/json",
         json.dumps({"slotId": sid, "email": "a" * 250 + "@b.co"}).encode(),
         400, "invalid-field"),
        ("application/json",
         json.dumps({"slotId": sid, "note": "n" * 1001}).encode(), 400,
         "invalid-field"),
        ("application/json",
         json.dumps({"slotId": sid, "note": "x" * 20000}).encode(), 413,
         "payload-too-large"),
    ]
    for ctype, raw, status, code in cases:
        raw = raw.replace(b"SID", str(sid).encode())
        headers = {"Content-Type": ctype} if ctype else {}
        got = s.request("POST", "/appointments", body=raw, headers=headers)
        doc = json.loads(got[2])
        assert (got[0], doc.get("code")) == (status, code), (raw[:80], doc)
        assert got[1]["content-type"] == "application/problem+json"
    for key in ("k" * 256, "has space", "tab\there"):
        problem(s.post("/appointments", {"slotId": sid},
                       {"Idempotency-Key": key}), 400, "bad-request")
    assert seats(pg, db) == before
    # Limits count characters, not bytes; null means absent.
    status, _, doc = s.post("/appointments", {
        "slotId": sid, "name": "é" * 200, "note": "日" * 1000,
        "email": None})
    assert status == 201, doc
    assert doc["name"] == "é" * 200 and doc["email"] is None


def test_idempotent_retries(pg, db, booking):
    s = booking
    sid = day_slots(s, weekday_ahead(1, after=8))[3]["id"]
    body = {"slotId": sid, "name": "Ben", "email": "ben@example.com"}
    first = s.post("/appointments", body, {"Idempotency-Key": "k-1"})
    assert first[0] == 201
    again = s.post("/appointments", body, {"Idempotency-Key": "k-1"})
    assert again[0] == 201 and again[2] == first[2]
    assert again[1]["location"] == first[1]["location"]
    assert booked(pg, db, sid) == 1
    problem(s.post("/appointments", dict(body, name="Bob"),
                   {"Idempotency-Key": "k-1"}), 422,
            "idempotency-key-reused")
    # Same meaning, other spelling: still the same request.
    raw = json.dumps(body, indent=2, ensure_ascii=True).encode()
    assert s.post("/appointments", None, {"Idempotency-Key": "k-1"},
                  raw=raw)[2] == first[2]
    assert booked(pg, db, sid) == 1

    # Concurrent requests with one key book once.
    sid2 = day_slots(s, weekday_ahead(1, after=8))[4]["id"]
    results = []
    go = threading.Barrier(20)

    def client():
        go.wait()
        results.append(s.post("/appointments", {"slotId": sid2},
                              {"Idempotency-Key": "k-race"}))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [201] * 20
    assert len({r[2]["id"] for r in results}) == 1
    assert booked(pg, db, sid2) == 1
    assert pg.psql(db, "SELECT count(*) FROM appointments WHERE "
                   "idempotency_key = 'k-race'") == [["1"]]


def post_with_headers(s, path, doc, headers):
    """POST doc with headers given as (name, value) pairs, so that one
    name can come twice."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        body = json.dumps(doc).encode()
        conn.putrequest("POST", path)
        for name, value in [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))] + headers:
            conn.putheader(name, value)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, \
            json.loads(r.read())
    finally:
        conn.close()


def test_idempotency_key_given_twice(pg, db, booking):
    s = booking
    sid = day_slots(s, weekday_ahead(2, after=8))[5]["id"]
    before = seats(pg, db)
    for keys in (("k-2", "k-3"), ("k-2", "k-2")):
        doc = problem(post_with_headers(
            s, "/appointments", {"slotId": sid},
            [("Idempotency-Key", keys[0]), ("idempotency-key", keys[1])]),
            400, "bad-request")
        assert "Idempotency-Key" in doc["detail"], doc
        assert "more than once" in doc["detail"], doc
    assert seats(pg, db) == before
    assert pg.psql(db, "SELECT count(*) FROM appointments WHERE "
                   "idempotency_key IS NOT NULL") == [["0"]]
    # Once is still fine.
    status, _, _ = post_with_headers(s, "/appointments", {"slotId": sid},
                                     [("Idempotency-Key", "k-2")])
    assert status == 201 and booked(pg, db, sid) == 1


def test_holds(pg, db, start_slotd):
    s = start_slotd(schedule=BOOKING, extra={"holds": {"ttl_seconds": "10"}})
    slots = day_slots(s, weekday_ahead(2, after=8))
    sid = slots[0]["id"]
    t0 = time.time()
    status, hdrs, hold = s.post("/holds", {"slotId": sid, "slots": 2})
    assert status == 201, hold
    assert list(hold) == ["id", "slotId", "slotIds", "expiresAt"]
    assert hold["slotIds"] == [sid, slots[1]["id"]]
    expires = dt.datetime.fromisoformat(hold["expiresAt"]).timestamp()
    assert abs(expires - (t0 + 10)) < 2
    assert hdrs["location"] == f"/holds/{hold['id']}"
    assert s.slot(sid)["booked"] == 1 and booked(pg, db, sid) == 1

    # Converting keeps the seats; the hold is then gone.
    status, _, appt = s.post("/appointments", {"holdId": hold["id"],
                                               "name": "Cy"})
    assert status == 201, appt
    assert appt["slotIds"] == hold["slotIds"]
    assert booked(pg, db, sid) == 1 and s.slot(sid)["booked"] == 1
    problem(s.post("/appointments", {"holdId": hold["id"]}), 410,
            "hold-expired")
    problem(s.delete(f"/holds/{hold['id']}"), 404, "not-found")
    problem(s.post("/appointments", {
        "holdId": "00000000-0000-4000-8000-000000000000"}), 410,
        "hold-expired")

    # Released by the client: seats back at once.
    _, _, h2 = s.post("/holds", {"slotId": slots[2]["id"]})
    assert s.slot(slots[2]["id"])["booked"] == 1
    problem(s.post("/appointments", {"holdId": h2["id"],
                                     "slotId": slots[3]["id"]}), 400,
            "invalid-field")
    assert s.delete(f"/holds/{h2['id']}")[0] == 204
    assert s.slot(slots[2]["id"])["booked"] == 0
    assert booked(pg, db, slots[2]["id"]) == 0
    problem(s.delete("/holds/not-a-uuid"), 404, "not-found")
    problem(s.post("/holds", {"slotId": 99999999}), 404, "slot-not-found")
    problem(s.post("/holds", {"slotId": sid, "slots": 3}), 400,
            "too-many-slots")

    # Expired: the seats come back within a second of expiresAt.
    _, _, h3 = s.post("/holds", {"slotId": slots[4]["id"]})
    expires = dt.datetime.fromisoformat(h3["expiresAt"]).timestamp()
    wait_for(lambda: s.slot(slots[4]["id"])["booked"] == 0, timeout=15,
             interval=0.02)
    freed = time.time()
    assert freed - expires < 1.0, freed - expires
    assert booked(pg, db, slots[4]["id"]) == 0
    problem(s.post("/appointments", {"holdId": h3["id"]}), 410,
            "hold-expired")


def test_admin_slots(pg, db, booking):
    s = booking
    day = weekday_ahead(5, after=8)                # a Saturday: no slots
    one = {"startTime": f"{day}T10:00:00+08:00",
           "endTime": f"{day}T10:45:00+08:00", "capacity": 2}
    status, hdrs, doc = s.post("/slots", one)
    assert status == 201, doc
    assert hdrs["location"] == f"/slots/{doc['id']}"
    assert (doc["startTime"], doc["endTime"], doc["capacity"],
            doc["booked"], doc["availability"]) == \
        (one["startTime"], one["endTime"], 2, 0, 2)
    assert day_slots(s, day) == [doc]

    many = [{"startTime": f"{day}T11:00:00+08:00",
             "endTime": f"{day}T11:30:00+08:00", "capacity": 1},
            {"startTime": f"{day}T03:30:00Z",
             "endTime": f"{day}T04:00:00Z", "capacity": 3}]
    status, _, docs = s.post("/slots", many)
    assert status == 201 and [d["capacity"] for d in docs] == [1, 3]
    assert docs[1]["startTime"] == f"{day}T11:30:00+08:00"
    assert len(day_slots(s, day)) == 3

    # All or nothing: one overlap refuses the whole array.
    count = pg.psql(db, "SELECT count(*) FROM slots")
    problem(s.post("/slots", [
        {"startTime": f"{day}T15:00:00+08:00",
         "endTime": f"{day}T15:30:00+08:00", "capacity": 1},
        {"startTime": f"{day}T10:30:00+08:00",
         "endTime": f"{day}T10:50:00+08:00", "capacity": 1}]),
        409, "slot-overlap")
    problem(s.post("/slots", one), 409, "slot-overlap")
    problem(s.post("/slots", dict(one, endTime=one["startTime"])), 400,
            "invalid-field")
    problem(s.post("/slots", dict(one, startTime="tomorrow")), 400,
            "invalid-field")
    problem(s.post("/slots", dict(one, startTime=f"{day}T10:00:00")), 400,
            "invalid-field")
    problem(s.post("/slots", {"startTime": one["startTime"]}), 400,
            "invalid-field")
    problem(s.post("/slots", []), 400, "invalid-field")
    assert pg.psql(db, "SELECT count(*) FROM slots") == count

    sid = doc["id"]
    assert s.post("/appointments", {"slotId": sid})[0] == 201
    status, _, patched = s.send_json("PATCH", f"/slots/{sid}",
                                     {"capacity": 5})
    assert status == 200 and patched["capacity"] == 5
    assert s.slot(sid)["capacity"] == 5
    problem(s.send_json("PATCH", f"/slots/{sid}", {"capacity": 0}), 400,
            "invalid-field")
    problem(s.send_json("PATCH", f"/slots/{sid}", {"capacity": 2,
                                                    "booked": 0}),
            400, "unknown-field")
    pg.psql(db, f"UPDATE slots SET booked = 3 WHERE id = {sid}")
    wait_for(lambda: s.slot(sid)["booked"] == 3)
    problem(s.send_json("PATCH", f"/slots/{sid}", {"capacity": 2}), 409,
            "capacity-below-booked")
    problem(s.send_json("PATCH", "/slots/99999999", {"capacity": 2}), 404,
            "slot-not-found")
    problem(s.delete(f"/slots/{sid}"), 409, "slot-has-bookings")
    # A held seat blocks deletion too.
    hid = s.post("/holds", {"slotId": docs[0]["id"]})[2]["id"]
    problem(s.delete(f"/slots/{docs[0]['id']}"), 409, "slot-has-bookings")
    assert s.delete(f"/holds/{hid}")[0] == 204
    assert s.delete(f"/slots/{docs[0]['id']}")[0] == 204
    problem(s.get(f"/slots/{docs[0]['id']}"), 404, "slot-not-found")
    problem(s.delete(f"/slots/{docs[0]['id']}"), 404, "slot-not-found")
    assert len(day_slots(s, day)) == 2
    status, hdrs, _ = s.request("PUT", f"/slots/{sid}")
    assert status == 405 and hdrs["allow"] == "GET, HEAD, DELETE, PATCH"
    status, hdrs, _ = s.request("DELETE", "/slots")
    assert status == 405 and hdrs["allow"] == "GET, HEAD, POST"
    status, hdrs, _ = s.request("PUT", "/appointments")
    assert status == 405 and hdrs["allow"] == "GET, HEAD, POST"
    status, hdrs, _ = s.request("PATCH", "/appointments/1")
    assert status == 405 and hdrs["allow"] == "GET, HEAD, DELETE"
    status, hdrs, _ = s.request("GET", "/holds/x")
    assert status == 405 and hdrs["allow"] == "DELETE"
