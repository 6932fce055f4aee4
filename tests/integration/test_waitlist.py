"""The waitlist (API.md, "Waitlist"): entries wait for a full slot, and
the seats that free up (a cancel, a move away, a hold released or expired,
a capacity raised, an offer expiring or given back) are offered to the
longest-waiting entry in the very transaction that frees them, as a hold:
no booking can take them first."""
import concurrent.futures
import datetime as dt
import threading
import time
import uuid

from harness import problem, wait_for, weekday_ahead

ONE_SEAT = {"capacity": "1"}


def full_slot(s, day=None, instance=None):
    """A slot whose one seat is booked, and that booking."""
    day = day or weekday_ahead(2)
    sid = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]
           if x["booked"] == 0][0]
    status, _, appt = (instance or s).post("/appointments", {"slotId": sid})
    assert status == 201, appt
    return sid, appt


def join(s, sid, headers=None, **kw):
    status, hdrs, entry = s.post("/waitlist", {"slotId": sid, **kw}, headers)
    assert status == 201, entry
    assert hdrs["location"] == f"/waitlist/{entry['id']}"
    return entry


def entry(s, eid, headers=None):
    status, _, doc = s.get_json(f"/waitlist/{eid}", headers)
    assert status == 200, doc
    return doc


def test_wait_offer_and_book(pg, db, start_slotd):
    s = start_slotd(schedule=ONE_SEAT)
    sid, appt = full_slot(s)
    a = join(s, sid, name="Ann", email="ann@example.org")
    assert set(a) == {"id", "slotId", "slotIds", "status", "position",
                      "holdId", "offerExpiresAt", "createdAt"}
    assert (a["slotId"], a["slotIds"], a["status"], a["position"],
            a["holdId"], a["offerExpiresAt"]) == (sid, [sid], "waiting", 1,
                                                  None, None)
    uuid.UUID(a["id"])
    b = join(s, sid, name="Bo")
    assert b["position"] == 2
    assert entry(s, a["id"]) == a
    # The cancel frees the seat: Ann is offered it in the same
    # transaction, so the slot never shows a free seat.
    t0 = time.time()
    assert s.delete(f"/appointments/{appt['id']}")[0] == 204
    assert s.slot(sid)["booked"] == 1
    offered = entry(s, a["id"])
    assert offered["status"] == "offered" and offered["position"] is None
    assert offered["holdId"]
    expires = dt.datetime.fromisoformat(offered["offerExpiresAt"])
    assert t0 + 290 < expires.timestamp() < t0 + 310, offered
    assert entry(s, b["id"])["position"] == 1
    problem(s.post("/appointments", {"slotId": sid}), 409, "slot-full")
    status, _, booked = s.post("/appointments",
                               {"holdId": offered["holdId"]})
    assert status == 201, booked
    assert entry(s, a["id"])["status"] == "booked"
    types = [e["type"] for e in s.get_json("/events")[2]["events"]]
    assert types == ["appointment.booked", "appointment.cancelled",
                     "waitlist.offered", "appointment.booked"]
    ev = s.get_json("/events?after=2")[2]["events"][0]
    assert ev["data"] == offered


def test_refusals(pg, db, start_slotd):
    s = start_slotd(schedule=ONE_SEAT)
    day = weekday_ahead(2)
    sid, _ = full_slot(s, day)
    free = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]
            if x["booked"] == 0][0]
    problem(s.post("/waitlist", {"slotId": free}), 409, "slot-available")
    problem(s.post("/waitlist", {"slotId": 10 ** 9}), 404, "slot-not-found")
    problem(s.post("/waitlist", {}), 400, "invalid-field")
    problem(s.post("/waitlist", {"slotId": sid, "note": "x"}), 400,
            "unknown-field")
    problem(s.post("/waitlist", {"slotId": sid, "email": "nope"}), 400,
            "invalid-field")
    problem(s.post("/waitlist", {"slotId": sid, "slots": 6}), 400,
            "too-many-slots")
    # Anonymous entries may repeat.
    join(s, sid)
    join(s, sid)
    problem(s.get_json(f"/waitlist/{uuid.uuid4()}"), 404,
            "waitlist-not-found")
    problem(s.get_json("/waitlist/not-a-uuid"), 404, "waitlist-not-found")
    problem(s.delete(f"/waitlist/{uuid.uuid4()}"), 404,
            "waitlist-not-found")
    assert int(pg.psql(db, "SELECT count(*) FROM slotd_waitlist")[0][0]) == 2


def test_entries_belong_to_their_subject(pg, db, start_slotd, tmp_path):
    from test_calendars import bearer, secured
    t = secured(start_slotd, tmp_path)
    day = weekday_ahead(2)
    tsid = [x["id"] for x in t.get_json(f"/slots?date={day}")[2]["slots"]
            if x["booked"] < x["capacity"]][1]
    for _ in range(int(t.slot(tsid)["capacity"]) - t.slot(tsid)["booked"]):
        assert t.post("/appointments", {"slotId": tsid},
                      bearer(sub="zed"))[0] == 201
    problem(t.post("/waitlist", {"slotId": tsid}), 401, "unauthorized")
    mine = join(t, tsid, bearer())
    problem(t.post("/waitlist", {"slotId": tsid}, bearer()), 409,
            "already-waiting")
    join(t, tsid, bearer(sub="bob"))
    problem(t.get_json(f"/waitlist/{mine['id']}", bearer(sub="bob")), 404,
            "waitlist-not-found")
    assert entry(t, mine["id"], bearer(sub="ops", role="admin"))["id"] == \
        mine["id"]
    assert t.delete(f"/waitlist/{mine['id']}", bearer())[0] == 204
    problem(t.delete(f"/waitlist/{mine['id']}", bearer()), 404,
            "waitlist-not-found")
    # Having left, the subject may wait again.
    join(t, tsid, bearer())


def test_window_applies(pg, db, slotd):
    status, _, cal = slotd.post("/calendars", {
        "name": "tours", "timezone": "UTC",
        "schedule": {"hours": ["mon-sun 08:00-20:00"], "slotMinutes": 60,
                     "capacity": 1, "horizonDays": 30},
        "rules": {"maxAdvanceDays": 2}})
    assert status == 201, cal
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 20 * 86400))
    wait_for(lambda: slotd.get_json(
        f"/slots?date={day}&calendar={cal['id']}")[0] == 200 and
        slotd.get_json(f"/slots?date={day}&calendar={cal['id']}")[2]
        ["slots"], timeout=3)
    far = slotd.get_json(f"/slots?date={day}&calendar={cal['id']}")[2][
        "slots"][0]["id"]
    pg.psql(db, f"UPDATE slots SET booked = 1 WHERE id = {far}")
    wait_for(lambda: slotd.slot(far)["booked"] == 1, timeout=3)
    problem(slotd.post("/waitlist", {"slotId": far}), 409,
            "outside-booking-window")


def test_every_way_of_freeing_a_seat_offers_it(pg, db, start_slotd):
    s = start_slotd(schedule=ONE_SEAT)
    day = weekday_ahead(3)

    def offered(e):
        return entry(s, e["id"])["status"] == "offered"

    # A move away.
    sid, appt = full_slot(s, day)
    other = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]
             if x["booked"] == 0][0]
    e1 = join(s, sid)
    assert s.post(f"/appointments/{appt['id']}/reschedule",
                  {"slotId": other})[0] == 200
    assert offered(e1) and s.slot(sid)["booked"] == 1
    # A hold given back.
    sid2 = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]
            if x["booked"] == 0][0]
    status, _, hold = s.post("/holds", {"slotId": sid2})
    assert status == 201
    e2 = join(s, sid2)
    assert s.delete(f"/holds/{hold['id']}")[0] == 204
    assert offered(e2)
    # A capacity raised.
    sid3, _ = full_slot(s, day)
    e3 = join(s, sid3)
    status, _, _ = s.send_json("PATCH", f"/slots/{sid3}", {"capacity": 2})
    assert status == 200
    assert offered(e3) and s.slot(sid3)["booked"] == 2
    # An offer that expires passes to the next entry, and one given back
    # (leaving) too.
    sid4, appt4 = full_slot(s, day)
    first, second, third = join(s, sid4), join(s, sid4), join(s, sid4)
    assert s.delete(f"/appointments/{appt4['id']}")[0] == 204
    assert offered(first)
    pg.psql(db, "UPDATE holds SET expires_at = now() WHERE id = "
            f"'{entry(s, first['id'])['holdId']}'")
    wait_for(lambda: offered(second), timeout=3, what="the next offer")
    assert entry(s, first["id"])["status"] == "expired"
    assert s.delete(f"/waitlist/{second['id']}")[0] == 204
    assert offered(third)
    assert s.slot(sid4)["booked"] == 1
    problem(s.get_json(f"/waitlist/{second['id']}"), 404,
            "waitlist-not-found")
    events = s.get_json("/events?limit=1000")[2]["events"]
    expired = [e for e in events if e["type"] == "waitlist.expired"]
    assert [e["data"]["id"] for e in expired] == [first["id"]]
    assert expired[0]["data"]["status"] == "expired"


def test_the_waiter_gets_the_seat_every_time(pg, db, start_slotd):
    """Clients keep booking a full slot on one instance while its seat is
    freed on the other: the entry waiting for it gets it, every time."""
    a = start_slotd(schedule=ONE_SEAT)
    b = start_slotd(schedule=ONE_SEAT)
    day = weekday_ahead(4)
    slots = [x["id"] for x in a.get_json(f"/slots?date={day}")[2]["slots"]]
    stolen = []
    for sid in slots[:12]:
        status, _, appt = b.post("/appointments", {"slotId": sid})
        assert status == 201
        waiter = join(a, sid)
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                status, _, doc = a.post("/appointments", {"slotId": sid})
                if status == 201:
                    stolen.append(doc)
                assert status in (201, 409), doc

        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            runs = [ex.submit(hammer) for _ in range(6)]
            time.sleep(0.05)
            assert b.delete(f"/appointments/{appt['id']}")[0] == 204
            time.sleep(0.1)
            stop.set()
            for r in runs:
                r.result()
        got = entry(a, waiter["id"])
        assert got["status"] == "offered", got
        assert a.post("/appointments", {"holdId": got["holdId"]})[0] == 201
    assert stolen == []
