"""The outbox (API.md, "Events and webhooks"): every booking, cancel and
reschedule writes its event in its own transaction, GET /events lists them
by id, and ids follow the order of commits, so that a poller asking after
the last id it saw never misses one."""
import concurrent.futures
import re
import subprocess
import threading

from harness import pg_bindir, problem, weekday_ahead

UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def free_slots(s, day, n=1):
    slots = s.get_json(f"/slots?date={day}")[2]["slots"]
    return [x["id"] for x in slots if x["booked"] < x["capacity"]][:n]


def events(s, after=0, limit=None):
    q = f"/events?after={after}" + (f"&limit={limit}" if limit else "")
    status, _, doc = s.get_json(q)
    assert status == 200, doc
    return doc["events"]


def test_each_change_is_an_event_with_its_document(pg, db, slotd):
    day = weekday_ahead(2)
    a, b = free_slots(slotd, day, 2)
    assert events(slotd) == []
    status, _, booked = slotd.post("/appointments", {
        "slotId": a, "name": "Ann Lee", "email": "ann@example.org"})
    assert status == 201
    status, _, moved = slotd.post(
        f"/appointments/{booked['id']}/reschedule", {"slotId": b})
    assert status == 200
    status, _, cancelled = slotd.post(
        f"/appointments/{booked['id']}/cancel", {"reason": "ill"})
    assert status == 200
    got = events(slotd)
    assert [e["type"] for e in got] == [
        "appointment.booked", "appointment.rescheduled",
        "appointment.cancelled"]
    assert [e["id"] for e in got] == ["1", "2", "3"]
    # Each carries the appointment as the change left it: the document
    # the call answered.
    assert [e["data"] for e in got] == [booked, moved, cancelled]
    assert got[2]["data"]["cancelReason"] == "ill"
    for e in got:
        assert set(e) == {"id", "type", "timestamp", "data"}
        assert UTC.match(e["timestamp"]), e
    # Paging by id.
    assert events(slotd, after=1) == got[1:]
    assert events(slotd, after=1, limit=1) == got[1:2]
    assert events(slotd, after=3) == []
    # DELETE is a cancel too; a second cancel is no event.
    status, _, appt = slotd.post("/appointments", {"slotId": a})
    assert slotd.delete(f"/appointments/{appt['id']}")[0] == 204
    assert slotd.delete(f"/appointments/{appt['id']}")[0] in (204, 404, 409)
    assert [e["type"] for e in events(slotd, after=3)] == [
        "appointment.booked", "appointment.cancelled"]


def test_bookings_made_outside_slotd_are_events_too(pg, db, slotd):
    """A session that is not a worker's (an instance of an older slotd while
    a rolling upgrade goes round, an import in psql): a row trigger writes
    the event, and a booking function called there writes no second one."""
    day = weekday_ahead(2)
    sid = free_slots(slotd, day)[0]
    pg.psql(db, "INSERT INTO appointments (slot_ids, start_at, end_at, name) "
            f"SELECT ARRAY[id], start_at, end_at, 'import' FROM slots "
            f"WHERE id = {sid}")
    one = pg.psql(db, f"SELECT outcome FROM slotd_book_one_ruled({sid}, "
                  "'one', NULL, NULL, 'psql', NULL, NULL, false)")
    run = pg.psql(db, f"SELECT outcome FROM slotd_book_ruled({sid}, 1, "
                  "'run', NULL, NULL, 'psql', NULL, NULL, NULL, false)")
    assert one == run == [["booked"]]
    got = events(slotd)
    assert sorted(e["data"]["name"] for e in got) == ["import", "one", "run"]
    assert {e["type"] for e in got} == {"appointment.booked"}
    assert {e["data"]["slotId"] for e in got} == {sid}


def test_a_burst_is_numbered_whatever_the_statistics(pg, db, slotd):
    """GET /events numbers every committed event first.  20,000 events
    written since the table was analyzed with all of its events numbered:
    the planner's estimate of the unnumbered ones is 1, and the numbering
    must not be planned on it (migration 0016; it used to take minutes, past
    the workers' statement_timeout)."""
    day = weekday_ahead(2)
    sid = free_slots(slotd, day)[0]
    assert slotd.post("/appointments", {"slotId": sid})[0] == 201
    first = events(slotd)
    assert len(first) == 1
    pg.psql(db, "ANALYZE slotd_events")
    columns = ("type, appointment_id, calendar_id, slot_ids, start_at, "
               "end_at, status, name, email, note, created_at, updated_at")
    pg.psql(db, f"INSERT INTO slotd_events ({columns}) SELECT {columns} "
            "FROM slotd_events, generate_series(1, 20000)")
    got = events(slotd, after=first[0]["id"], limit=2)
    assert [int(e["id"]) for e in got] == [int(first[0]["id"]) + 1,
                                           int(first[0]["id"]) + 2]
    assert got[0]["data"] == first[0]["data"]
    assert pg.psql(db, "SELECT count(*), count(DISTINCT id) FROM "
                   "slotd_events WHERE id IS NOT NULL") == \
        [["20001", "20001"]]


def test_bad_queries_are_refused(pg, db, slotd):
    for q in ("after=-1", "after=x", "after=01", "limit=0", "limit=1001",
              "limit=x", "since=3"):
        problem(slotd.get_json(f"/events?{q}"), 400, "bad-request")
    problem(slotd.request("POST", "/events", b"{}",
                          {"Content-Type": "application/json"}),
            405, "method-not-allowed")


def test_what_did_not_commit_is_no_event(pg, db, slotd):
    day = weekday_ahead(3)
    (sid,) = free_slots(slotd, day)
    pg.psql(db, f"""BEGIN;
        SELECT * FROM slotd_book_ruled({sid}, 1, 'x', NULL, NULL, '', NULL,
                                       NULL, NULL, false);
        ROLLBACK;""")
    assert slotd.post("/appointments", {"slotId": 999999})[0] == 404
    assert events(slotd) == []
    assert pg.psql(db, "SELECT count(*) FROM slotd_events")[0][0] == "0"


def test_ids_follow_commit_order(pg, db, slotd):
    """A booking that commits after a later one gets the larger id: a
    poller that saw the later one's id does not miss it."""
    day = weekday_ahead(4)
    first, second = free_slots(slotd, day, 2)
    psql = subprocess.Popen(
        [f"{pg_bindir()}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
         pg.conninfo(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    psql.stdin.write(f"BEGIN; SELECT 'open' FROM slotd_book_ruled({first}, "
                     "1, 'early', NULL, NULL, '', NULL, NULL, NULL, "
                     "false);\n")
    psql.stdin.flush()
    assert "open" in psql.stdout.readline() + psql.stdout.readline() + \
        psql.stdout.readline()
    # Its event was written first (a smaller place in the outbox) but has
    # not committed.
    assert slotd.post("/appointments", {"slotId": second})[0] == 201
    seen = events(slotd)
    assert [e["data"]["slotId"] for e in seen] == [second]
    psql.stdin.write("COMMIT;\n")
    psql.stdin.close()
    assert psql.wait(timeout=10) == 0
    later = events(slotd, after=int(seen[-1]["id"]))
    assert [e["data"]["slotId"] for e in later] == [first]
    assert int(later[0]["id"]) > int(seen[-1]["id"])


def test_a_poller_misses_nothing_under_concurrency(pg, db, start_slotd):
    a = start_slotd(schedule={"capacity": "200"})
    b = start_slotd(schedule={"capacity": "200"})
    day = weekday_ahead(1)
    slots = free_slots(a, day, 4)
    stop = threading.Event()
    seen = []

    def poll():
        after = 0
        while True:
            done = stop.is_set()
            page = events(b, after=after, limit=50)
            for e in page:
                assert int(e["id"]) > after
                after = int(e["id"])
                seen.append(e)
            if done and not page:
                return

    poller = threading.Thread(target=poll)
    poller.start()

    def book(i):
        s = (a, b)[i % 2]
        status, _, doc = s.post("/appointments",
                                {"slotId": slots[i % len(slots)]})
        assert status == 201, doc
        if i % 5 == 0:
            assert s.delete(f"/appointments/{doc['id']}")[0] == 204
        return doc["id"]

    with concurrent.futures.ThreadPoolExecutor(24) as ex:
        booked = list(ex.map(book, range(400)))
    stop.set()
    poller.join(timeout=30)
    # Every event, each once, in id order, bookings and cancels alike.
    ids = [int(e["id"]) for e in seen]
    assert ids == list(range(1, len(ids) + 1))
    assert sorted(e["data"]["id"] for e in seen
                  if e["type"] == "appointment.booked") == sorted(booked)
    assert len(seen) == 400 + 80


def test_events_are_for_admins(pg, db, start_slotd, tmp_path):
    from test_calendars import bearer, secured
    s = secured(start_slotd, tmp_path)
    problem(s.get_json("/events"), 401, "unauthorized")
    problem(s.get_json("/events", bearer()), 403, "forbidden")
    status, _, doc = s.get_json("/events", bearer(sub="ops", role="admin"))
    assert status == 200 and doc == {"events": []}


def test_every_booking_path_writes_one_event(pg, db, start_slotd):
    """Lean bookings, batches (bookings waiting together), idempotent
    ones, admins' and converted holds: one event per appointment."""
    s = start_slotd(schedule={"capacity": "100",
                              "max_slots_per_appointment": "2"})
    day = weekday_ahead(2)
    sid = free_slots(s, day)[0]

    def book(i):
        body = {"slotId": sid, "name": f"p{i}"}
        hdrs = {"Idempotency-Key": f"k{i}"} if i % 3 == 0 else None
        return s.post("/appointments", body, hdrs)[0]

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        assert set(ex.map(book, range(60))) == {201}
    status, _, hold = s.post("/holds", {"slotId": sid, "slots": 2})
    assert status == 201, hold
    assert s.post("/appointments", {"holdId": hold["id"]})[0] == 201
    rows = pg.psql(db, "SELECT count(*) FROM appointments")[0][0]
    got = events(s, limit=1000)
    assert len(got) == int(rows) == 61
    assert {e["type"] for e in got} == {"appointment.booked"}
    assert len({e["data"]["id"] for e in got}) == 61
