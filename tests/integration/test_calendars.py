"""The calendars API (API.md, "Calendars"): create, read, page, merge patch
and delete, calendar 1 mirroring [schedule], and each calendar's slots made
by PostgreSQL in its own zone, checked against slots computed here with
zoneinfo."""
import concurrent.futures
import datetime as dt
import json
import re
import time
from zoneinfo import ZoneInfo

import jwt as pyjwt
import pytest

from harness import problem, wait_for

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

TAN = {
    "name": "Ms Tan, P1 meetings",
    "timezone": "Asia/Singapore",
    "schedule": {"hours": ["mon-thu 09:00-18:00", "fri 09:00-13:00"],
                 "slotMinutes": 20, "gapMinutes": 10, "capacity": 1,
                 "breaks": ["12:00-13:00"], "daysOff": [],
                 "extraHours": [], "horizonDays": 14},
    "rules": {"minNoticeMinutes": 120, "maxAdvanceDays": 30,
              "cancelNoticeMinutes": 1440, "maxSlotsPerAppointment": 1},
}




def day_set(text):
    """Weekday numbers (0 = Monday) of "mon-thu" or "mon,wed"."""
    out = set()
    for item in text.split(","):
        a, _, b = item.partition("-")
        i, j = DAYS.index(a), DAYS.index(b or a)
        while True:
            out.add(i)
            if i == j:
                break
            i = (i + 1) % 7
    return out


def minutes(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def expected(cal, first, last):
    """The slots calendar cal asks for on local days [first, last), as
    (start, end) UTC datetimes: the grid of each window (start, then every
    slot + gap while the slot fits), none overlapping a break, a slot at
    each occurrence of a wall time (fold 0 and 1) that exists, each
    lasting its minutes, none overlapping the slot kept before it."""
    z = ZoneInfo(cal["timezone"])
    s = cal["schedule"]
    slot, step = s["slotMinutes"], s["slotMinutes"] + s["gapMinutes"]
    breaks = [tuple(map(minutes, b.split("-"))) for b in s["breaks"]]
    off = {dt.date.fromisoformat(d) for d in s["daysOff"]}
    windows = []
    day = first
    while day < last:
        if day not in off:
            for w in s["hours"]:
                days, rng = w.split(" ")
                if day.weekday() in day_set(days):
                    a, b = map(minutes, rng.split("-"))
                    windows.append((day, a, b))
        day += dt.timedelta(days=1)
    for x in s["extraHours"]:
        d, rng = x.split(" ")
        d = dt.date.fromisoformat(d)
        if first <= d < last:
            a, b = map(minutes, rng.split("-"))
            windows.append((d, a, b))
    starts = set()
    for day, a, b in windows:
        for m in range(a, b - slot + 1, step):
            if any(m < be and bs < m + slot for bs, be in breaks):
                continue
            wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(
                minutes=m)
            for fold in (0, 1):
                t = wall.replace(tzinfo=z, fold=fold)
                if t.astimezone(dt.timezone.utc).astimezone(z).replace(
                        tzinfo=None) == wall:
                    starts.add(t.astimezone(dt.timezone.utc))
    out = []
    for t in sorted(starts):
        if not out or t >= out[-1][1]:
            out.append((t, t + dt.timedelta(minutes=slot)))
    return out


def db_slots(pg, db, cal_id):
    rows = pg.psql(db, "SELECT extract(epoch FROM start_at)::bigint, "
                   "extract(epoch FROM end_at)::bigint FROM slots WHERE "
                   f"calendar_id = {cal_id} ORDER BY start_at")
    utc = dt.timezone.utc
    return [(dt.datetime.fromtimestamp(int(a), utc),
             dt.datetime.fromtimestamp(int(b), utc)) for a, b in rows]


def today(zone):
    return dt.datetime.now(ZoneInfo(zone)).date()


def create(s, doc):
    status, headers, got = s.post("/calendars", doc)
    assert status == 201, got
    assert headers["location"] == f"/calendars/{got['id']}"
    return got


def test_calendar_1_mirrors_the_schedule(slotd):
    status, _, doc = slotd.get_json("/calendars/1")
    assert status == 200, doc
    assert doc["name"] == "default"
    assert doc["timezone"] == "Asia/Singapore"
    assert doc["schedule"] == {
        "hours": ["mon-fri 09:00-18:00"], "slotMinutes": 30,
        "gapMinutes": 0, "capacity": 3, "breaks": ["12:00-13:00"],
        "daysOff": [], "extraHours": [], "horizonDays": 30}
    assert doc["rules"]["maxSlotsPerAppointment"] == 1
    problem(slotd.send_json("PATCH", "/calendars/1", {"name": "x"}), 409,
            "calendar-managed-by-config")
    problem(slotd.delete("/calendars/1"), 409, "calendar-managed-by-config")


def test_create_read_and_its_slots(pg, db, slotd):
    got = create(slotd, TAN)
    for key in ("name", "timezone", "schedule", "rules"):
        assert got[key] == TAN[key], key
    assert len(got["feedToken"]) >= 32
    assert got["createdAt"].endswith("+08:00")
    assert got["createdAt"] == got["updatedAt"]
    status, _, again = slotd.get_json(f"/calendars/{got['id']}")
    assert status == 200 and again == got
    first = today("Asia/Singapore")
    want = expected(TAN, first, first + dt.timedelta(days=14))
    assert db_slots(pg, db, got["id"]) == want
    assert len(want) > 50


@pytest.mark.parametrize("zone,hours", [
    ("Australia/Lord_Howe", ["mon-sun 00:00-04:00"]),    # 30-minute DST
    ("America/Havana", ["mon-sun 00:00-02:00", "sat 22:00-24:00"]),
    ("America/Santiago", ["mon-sun 22:00-24:00", "mon-sun 00:00-01:30"]),
    ("Europe/London", ["mon-sun 00:30-03:00"]),
])
def test_slots_in_zones_with_clock_changes(pg, db, slotd, zone, hours):
    """Slots over a whole year of horizon in zones whose clocks change at
    odd times (Lord Howe by 30 minutes, Havana and Santiago at midnight),
    with lengths that straddle the changes."""
    doc = {"name": zone, "timezone": zone,
           "schedule": {"hours": hours, "slotMinutes": 45, "gapMinutes": 5,
                        "horizonDays": 366}}
    got = create(slotd, doc)
    full = {**doc, "schedule": {**got["schedule"]}}
    first = today(zone)
    want = expected(full, first, first + dt.timedelta(days=366))
    assert db_slots(pg, db, got["id"]) == want


def test_a_new_calendar_reaches_every_instance(pg, db, start_slotd):
    a = start_slotd()
    b = start_slotd()
    got = create(a, TAN)
    sid = pg.psql(db, "SELECT min(id) FROM slots WHERE calendar_id = "
                  f"{got['id']}")[0][0]
    t0 = dt.datetime.now()
    wait_for(lambda: b.get(f"/slots/{sid}")[0] == 200, timeout=2,
             what="the new calendar's slot on the other instance")
    print(f"seen on the other instance after {dt.datetime.now() - t0}")


def test_a_new_calendar_is_known_at_once_during_a_roll(pg, db, start_slotd):
    """While the syncers make a round of many due calendars, resting
    between them (as at a midnight they share), a calendar created meanwhile
    reaches the other instance's workers within 2 s, not at the round's
    end."""
    a = start_slotd()
    b = start_slotd()
    for s in (a, b):    # its first round done: it makes the next at its pace
        wait_for(lambda: "]: ready" in s.log_text(), timeout=10,
                 what="the instance ready")
    pg.psql(db, """
        INSERT INTO calendars (name, timezone, schedule, rules)
        SELECT 'tour ' || g, 'UTC',
               '{"hours":["mon-sun 09:00-10:00"],"slotMinutes":30,
                 "capacity":5,"horizonDays":1}', '{}'
          FROM generate_series(1, 3000) g""")
    due = "SELECT count(*) FROM slotd_calendars_due(now()) WHERE due"
    # b makes some of them itself (the syncers take turns on each).
    wait_for(lambda: re.search(r"calendar (?!1:)\d+: 2 slots made",
                               b.log_text()), timeout=10,
             what="b's round under way")
    got = create(a, TAN)
    day = today(TAN["timezone"]).isoformat()
    t0 = time.monotonic()
    wait_for(lambda: b.get(f"/slots?date={day}&calendar={got['id']}")[0]
             == 200, timeout=2, what="the new calendar known to b")
    print(f"known to b after {time.monotonic() - t0:.3f} s")
    assert int(pg.psql(db, due)[0][0]) > 0, "the round ended first"


def test_merge_patch(pg, db, slotd):
    got = create(slotd, TAN)
    cid = got["id"]
    before = db_slots(pg, db, cid)
    # A name alone leaves the slots as they are.
    status, _, doc = slotd.send_json("PATCH", f"/calendars/{cid}",
                                     {"name": "Ms Tan"})
    assert status == 200, doc
    assert doc["name"] == "Ms Tan" and doc["schedule"] == TAN["schedule"]
    assert doc["kept"] == 0 and doc["feedToken"] == got["feedToken"]
    assert db_slots(pg, db, cid) == before
    # Book the last slot of the horizon, then shorten the days: the booked
    # slot stays and is counted; the others follow the new schedule.
    sid, start = pg.psql(db, "SELECT id, extract(epoch FROM start_at) FROM "
                         f"slots WHERE calendar_id = {cid} AND (start_at "
                         "AT TIME ZONE 'Asia/Singapore')::time > '10:00' "
                         "ORDER BY start_at DESC LIMIT 1")[0]
    status, _, appt = slotd.post("/appointments", {"slotId": int(sid)})
    assert status == 201, appt
    patch = {"schedule": {"hours": ["mon-fri 09:00-10:00"], "breaks": None},
             "rules": {"minNoticeMinutes": None}}
    status, _, doc = slotd.send_json(
        "PATCH", f"/calendars/{cid}", patch,
        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200, doc
    assert doc["schedule"]["hours"] == ["mon-fri 09:00-10:00"]
    assert doc["schedule"]["breaks"] == []
    assert doc["schedule"]["slotMinutes"] == 20           # merged, kept
    assert doc["rules"]["minNoticeMinutes"] == 0          # null: default
    assert doc["rules"]["maxAdvanceDays"] == 30
    assert doc["kept"] == 1
    assert doc["updatedAt"] >= got["updatedAt"]
    new = {**TAN, "schedule": {**TAN["schedule"], **doc["schedule"]}}
    first = today("Asia/Singapore")
    want = expected(new, first, first + dt.timedelta(days=14))
    utc = dt.timezone.utc
    booked = dt.datetime.fromtimestamp(float(start), utc)
    assert db_slots(pg, db, cid) == sorted(
        want + [(booked, booked + dt.timedelta(minutes=20))])
    # A new feed token.
    status, _, doc = slotd.send_json("PATCH", f"/calendars/{cid}",
                                     {"feedToken": "rotate"})
    assert status == 200 and doc["feedToken"] != got["feedToken"]


def test_a_new_grid_replaces_the_old(pg, db, slotd):
    """A schedule whose slots overlap the old ones' (another length, another
    step) is made whole: the old slots go before the new ones are made."""
    got = create(slotd, TAN)
    cid = got["id"]
    status, _, doc = slotd.send_json(
        "PATCH", f"/calendars/{cid}",
        {"schedule": {"slotMinutes": 15, "gapMinutes": 0}},
        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200, doc
    assert doc["kept"] == 0
    new = {**TAN, "schedule": {**TAN["schedule"], **doc["schedule"]}}
    first = today("Asia/Singapore")
    assert db_slots(pg, db, cid) == expected(
        new, first, first + dt.timedelta(days=14))


@pytest.mark.parametrize("body,field", [
    ({"schedule": {"hours": ["mon-fri 09:00-18:00", "fri 9-13"]}},
     "schedule.hours[1]"),
    ({"schedule": {"slotMinutes": 4}}, "schedule.slotMinutes"),
    ({"schedule": {"breaks": ["12:00-13:00", "12:30-13:30"]}},
     "schedule.breaks"),
    ({"schedule": {"daysOff": ["2026-02-30"]}}, "schedule.daysOff[0]"),
    ({"schedule": {"extraHours": ["2026-12-12"]}},
     "schedule.extraHours[0]"),
    ({"rules": {"maxSlotsPerAppointment": 6}},
     "rules.maxSlotsPerAppointment"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"name": ""}, "name"),
    ({"feedToken": "please"}, "feedToken"),
])
def test_bad_patches_change_nothing(slotd, body, field):
    got = create(slotd, TAN)
    doc = problem(slotd.send_json("PATCH", f"/calendars/{got['id']}", body),
                  400, "invalid-field")
    assert doc["detail"].startswith(field + ":"), doc
    assert slotd.get_json(f"/calendars/{got['id']}")[2] == got


def test_bad_creations(slotd):
    problem(slotd.post("/calendars", {"timezone": "UTC"}), 400,
            "invalid-field")
    problem(slotd.post("/calendars", {**TAN, "colour": "red"}), 400,
            "unknown-field")
    problem(slotd.post("/calendars", {**TAN, "feedToken": "rotate"}), 400,
            "unknown-field")
    problem(slotd.post("/calendars", None, raw=b"{"), 400, "invalid-json")
    assert [c["id"] for c in slotd.get_json("/calendars")[2]["calendars"]] \
        == [1]


def test_unknown_calendars(slotd):
    for method in ("GET", "DELETE"):
        problem(slotd.request(method, "/calendars/999")[:2] +
                (json.loads(slotd.request(method, "/calendars/999")[2]),),
                404, "calendar-not-found")
    problem(slotd.send_json("PATCH", "/calendars/999", {"name": "x"}), 404,
            "calendar-not-found")
    problem(slotd.get_json("/calendars/abc"), 404, "calendar-not-found")


def test_delete(pg, db, slotd):
    got = create(slotd, TAN)
    cid = got["id"]
    sid = pg.psql(db, "SELECT min(id) FROM slots WHERE calendar_id = "
                  f"{cid} AND start_at > now() + interval '1 day'")[0][0]
    status, _, appt = slotd.post("/appointments", {"slotId": int(sid)})
    assert status == 201, appt
    count = len(db_slots(pg, db, cid))
    problem(slotd.delete(f"/calendars/{cid}"), 409, "calendar-has-bookings")
    assert len(db_slots(pg, db, cid)) == count
    assert slotd.get_json(f"/calendars/{cid}")[0] == 200
    assert slotd.delete(f"/appointments/{appt['id']}")[0] == 204
    assert slotd.delete(f"/calendars/{cid}")[0] == 204
    assert db_slots(pg, db, cid) == []
    problem(slotd.get_json(f"/calendars/{cid}"), 404, "calendar-not-found")
    wait_for(lambda: slotd.get(f"/slots/{sid}")[0] == 404, timeout=2,
             what="the deleted calendar's slot gone from the table")
    # The appointment still names its slot's calendar's past.
    assert slotd.get_json(f"/appointments/{appt['id']}")[0] == 200


def test_pages(slotd):
    made = [create(slotd, {**TAN, "name": f"c{i}"})["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        path = "/calendars?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, _, doc = slotd.get_json(path)
        assert status == 200, doc
        assert len(doc["calendars"]) <= 2
        seen += [c["id"] for c in doc["calendars"]]
        pages += 1
        cursor = doc["next"]
        if cursor is None:
            break
    assert seen == [1] + made and pages == 3
    status, _, doc = slotd.get_json("/calendars")
    assert [c["id"] for c in doc["calendars"]] == [1] + made
    assert doc["next"] is None
    # A cursor the service did not issue: forged, or changed.
    _, _, page = slotd.get_json("/calendars?limit=1")
    position, mac = page["next"].split(".")
    for forged in (f"{int(position) + 1}.{mac}", f"{position}.{'0' * 32}",
                   "1", "x.y"):
        problem(slotd.get_json(f"/calendars?cursor={forged}"), 400,
                "invalid-cursor")
    for bad in ("limit=0", "limit=1001", "limit=abc", "colour=red"):
        problem(slotd.get_json(f"/calendars?{bad}"), 400, "bad-request")


def rules_calendar(s, rules):
    """A calendar open every hour of every day in UTC, slots of an hour."""
    return create(s, {"name": "rules", "timezone": "UTC",
                      "schedule": {"hours": ["mon-sun 00:00-24:00"],
                                   "slotMinutes": 60, "horizonDays": 40},
                      "rules": rules})


def slot_starting(pg, db, cid, after_minutes, before_minutes):
    """The id of a slot of calendar cid starting within that many minutes
    from now."""
    rows = pg.psql(db, "SELECT id FROM slots WHERE calendar_id = "
                   f"{cid} AND start_at >= now() + interval "
                   f"'{after_minutes} minutes' AND start_at < now() + "
                   f"interval '{before_minutes} minutes' ORDER BY start_at "
                   "LIMIT 1")
    return int(rows[0][0])


def booked_count(pg, db, sid):
    return int(pg.psql(db, f"SELECT booked FROM slots WHERE id = {sid}")[0][0])


def test_booking_window(pg, db, slotd):
    """minNoticeMinutes and maxAdvanceDays at their edges, for bookings of
    every form (one slot, with a key, a run, a hold) and nothing taken
    when refused."""
    cal = rules_calendar(slotd, {"minNoticeMinutes": 180,
                                 "maxAdvanceDays": 2,
                                 "maxSlotsPerAppointment": 2})
    cid = cal["id"]
    soon = slot_starting(pg, db, cid, 60, 180)           # inside the notice
    ok = slot_starting(pg, db, cid, 181, 241)            # just past it
    far = slot_starting(pg, db, cid, 2 * 1440 + 1, 2 * 1440 + 61)
    last = slot_starting(pg, db, cid, 2 * 1440 - 120, 2 * 1440 - 1)
    for sid in (soon, far):
        for body, headers in (({"slotId": sid}, None),
                              ({"slotId": sid},
                               {"Idempotency-Key": f"k{sid}"}),
                              ({"slotId": sid, "slots": 2}, None)):
            problem(slotd.post("/appointments", body, headers), 409,
                    "outside-booking-window")
        problem(slotd.post("/holds", {"slotId": sid}), 409,
                "outside-booking-window")
        assert booked_count(pg, db, sid) == 0
    for sid in (ok, last):
        status, _, doc = slotd.post("/appointments", {"slotId": sid})
        assert status == 201, doc
        assert booked_count(pg, db, sid) == 1
    # maxSlotsPerAppointment: 2 of this calendar, 3 refused.
    run = slot_starting(pg, db, cid, 600, 660)
    problem(slotd.post("/appointments", {"slotId": run, "slots": 3}), 400,
            "too-many-slots")
    status, _, doc = slotd.post("/appointments", {"slotId": run, "slots": 2})
    assert status == 201, doc


def test_booking_window_in_a_concurrent_batch(pg, db, slotd):
    """Bookings arriving together run as one batch statement: the refused
    ones take no seat from the allowed ones."""
    cal = rules_calendar(slotd, {"minNoticeMinutes": 180})
    cid = cal["id"]
    soon = slot_starting(pg, db, cid, 60, 180)
    ok = slot_starting(pg, db, cid, 300, 360)
    pg.psql(db, f"UPDATE slots SET capacity = 50 WHERE id IN ({soon}, {ok})")
    wait_for(lambda: slotd.slot(ok)["capacity"] == 50, timeout=2)

    def book(sid):
        return slotd.post("/appointments", {"slotId": sid})[0]

    with concurrent.futures.ThreadPoolExecutor(40) as ex:
        got = list(ex.map(book, [soon, ok] * 20))
    assert got.count(201) == 20 and got.count(409) == 20
    assert booked_count(pg, db, soon) == 0
    assert booked_count(pg, db, ok) == 20


def test_cancel_window(pg, db, slotd):
    cal = rules_calendar(slotd, {"cancelNoticeMinutes": 24 * 60})
    cid = cal["id"]
    near = slot_starting(pg, db, cid, 120, 180)
    later = slot_starting(pg, db, cid, 25 * 60, 26 * 60)
    _, _, a = slotd.post("/appointments", {"slotId": near})
    _, _, b = slotd.post("/appointments", {"slotId": later})
    problem(slotd.delete(f"/appointments/{a['id']}"), 409,
            "cancel-window-closed")
    assert booked_count(pg, db, near) == 1
    assert slotd.get_json(f"/appointments/{a['id']}")[2]["status"] == \
        "booked"
    assert slotd.delete(f"/appointments/{b['id']}")[0] == 204
    assert booked_count(pg, db, later) == 0


SECRET = b"0123456789abcdef0123456789abcdef-secret"


def secured(start_slotd, tmp_path):
    """An instance taking HS256 tokens."""
    path = tmp_path / "jwt.secret"
    path.write_bytes(SECRET + b"\n")
    return start_slotd(extra={"auth": {
        "mode": "jwt", "jwt_secret_file": str(path),
        "issuer": "https://id.example", "audience": "slotd"}})


def bearer(**kw):
    now = int(time.time())
    c = {"sub": "alice", "iss": "https://id.example", "aud": "slotd",
         "exp": now + 300, "iat": now, **kw}
    return {"Authorization":
            f"Bearer {pyjwt.encode(c, SECRET, algorithm='HS256')}"}


def test_admins_are_exempt(pg, db, start_slotd, tmp_path):
    s = secured(start_slotd, tmp_path)
    admin, parent = bearer(sub="ops", role="admin"), bearer()
    status, _, cal = s.post("/calendars", {
        "name": "rules", "timezone": "UTC",
        "schedule": {"hours": ["mon-sun 00:00-24:00"], "slotMinutes": 60,
                     "horizonDays": 5},
        "rules": {"minNoticeMinutes": 300, "cancelNoticeMinutes": 600}},
        admin)
    assert status == 201, cal
    assert "feedToken" in cal
    problem(s.post("/calendars", TAN, parent), 403, "forbidden")
    assert "feedToken" not in s.get_json(f"/calendars/{cal['id']}",
                                         parent)[2]
    soon = slot_starting(pg, db, cal["id"], 120, 180)
    problem(s.post("/appointments", {"slotId": soon}, parent), 409,
            "outside-booking-window")
    status, _, appt = s.post("/appointments", {"slotId": soon}, admin)
    assert status == 201, appt
    assert s.delete(f"/appointments/{appt['id']}", admin)[0] == 204
    status, _, appt = s.post("/appointments", {
        "slotId": slot_starting(pg, db, cal["id"], 330, 400)}, parent)
    assert status == 201, appt
    problem(s.delete(f"/appointments/{appt['id']}", parent), 409,
            "cancel-window-closed")


def test_schedule_section_takes_the_calendar_forms(pg, db, start_slotd):
    """[schedule] hours as weekly windows, gap_minutes, extra_hours and the
    rules' keys become calendar 1's, and its slots follow them."""
    extra = today("Asia/Singapore") + dt.timedelta(days=3)
    s = start_slotd(schedule={
        "hours": "mon-thu 09:00-12:00, sat, sun 14:00-16:00",
        "slot_minutes": "20", "gap_minutes": "10", "breaks": "",
        "capacity": "2", "horizon_days": "10",
        "extra_hours": f"{extra} 19:00-20:00",
        "min_notice_minutes": "30", "max_advance_days": "9",
        "cancel_notice_minutes": "60", "max_slots_per_appointment": "2"})
    _, _, cal = s.get_json("/calendars/1")
    assert cal["schedule"] == {
        "hours": ["mon-thu 09:00-12:00", "sat-sun 14:00-16:00"],
        "slotMinutes": 20, "gapMinutes": 10, "capacity": 2, "breaks": [],
        "daysOff": [], "extraHours": [f"{extra} 19:00-20:00"],
        "horizonDays": 10}
    assert cal["rules"] == {"minNoticeMinutes": 30, "maxAdvanceDays": 9,
                            "cancelNoticeMinutes": 60,
                            "maxSlotsPerAppointment": 2}
    first = today("Asia/Singapore")
    assert db_slots(pg, db, 1) == expected(cal, first,
                                           first + dt.timedelta(days=10))


@pytest.mark.parametrize("hours", ["mon-thu", "mon-thu 9:00-12:00",
                                   "09:00-12:00, mon", "xyz 09:00-10:00"])
def test_schedule_section_refuses_bad_windows(start_slotd, hours):
    s = start_slotd()
    s.rewrite({"schedule": {"hours": hours}})
    r = s.command("-t")
    assert r.returncode != 0
    assert "[schedule] hours:" in r.stderr, r.stderr


def day_doc(s, query):
    status, headers, doc = s.get_json(f"/slots?{query}")
    assert status == 200, doc
    return headers, doc


def test_slots_of_calendars(pg, db, slotd):
    """calendar= answers a calendar's slots in its zone; several merge by
    start then calendar; limit keeps the earliest; unknown ids are 404."""
    tan = create(slotd, TAN)["id"]
    london = create(slotd, {**TAN, "name": "tours", "timezone":
                            "Europe/London"})["id"]
    day = today("Asia/Singapore") + dt.timedelta(days=7)
    while day.weekday() != 1:                       # a Tuesday
        day += dt.timedelta(days=1)
    wait_for(lambda: all(slotd.get(f"/slots?date={day}&calendar={c}")[0]
                         == 200 and day_doc(slotd, f"date={day}&calendar="
                                            f"{c}")[1]["slots"]
                         for c in (tan, london)),
             timeout=2, what="the new calendars' slots in the table")
    _, doc = day_doc(slotd, f"date={day}&calendar={tan}")
    assert doc["timezone"] == "Asia/Singapore"
    assert {x["calendarId"] for x in doc["slots"]} == {tan}
    want = expected(TAN, day, day + dt.timedelta(days=1))
    assert [(x["startTime"], x["endTime"]) for x in doc["slots"]] == [
        (a.astimezone(ZoneInfo("Asia/Singapore")).isoformat(),
         b.astimezone(ZoneInfo("Asia/Singapore")).isoformat())
        for a, b in want]
    _, doc = day_doc(slotd, f"date={day}&calendar={london}")
    assert doc["timezone"] == "Europe/London"
    # Merged: the first calendar's zone and days, start then calendar.
    _, doc = day_doc(slotd, f"date={day}&calendar={london},1,{tan}")
    assert doc["timezone"] == "Europe/London"
    keys = [(x["startTime"], x["calendarId"]) for x in doc["slots"]]
    assert keys == sorted(keys, key=lambda k: (
        dt.datetime.fromisoformat(k[0]), k[1]))
    assert {x["calendarId"] for x in doc["slots"]} == {1, tan, london}
    _, simple = day_doc(slotd, f"date={day}&calendar={london},1,{tan}&"
                        "format=simple")
    assert [(x["calendarId"], x["time"]) for x in simple] == [
        (x["calendarId"], x["startTime"][11:16]) for x in doc["slots"]]
    h1, simple = day_doc(slotd, f"date={day}&format=simple")
    assert "calendarId" not in simple[0]
    h2, simple = day_doc(slotd, f"date={day}&format=simple&calendar=1")
    assert "calendarId" in simple[0] and h1["etag"] != h2["etag"]
    # The first free meeting with any of them in two weeks.
    _, first = day_doc(slotd, f"date={day}&days=14&calendar={tan},1&"
                       "available=true&limit=1")
    assert len(first["slots"]) == 1
    _, both = day_doc(slotd, f"date={day}&days=14&calendar={tan},1&"
                      "available=true")
    assert first["slots"][0] == both["slots"][0]
    # No calendar: calendar 1, as before calendars.
    _, plain = day_doc(slotd, f"date={day}")
    _, one = day_doc(slotd, f"date={day}&calendar=1")
    assert plain["slots"] == one["slots"]
    problem(slotd.get_json(f"/slots?date={day}&calendar=999"), 404,
            "calendar-not-found")
    problem(slotd.get_json(f"/slots?date={day}&calendar={tan},{tan}"), 400,
            "bad-request")
    ids = ",".join(str(i) for i in range(1, 52))
    problem(slotd.get_json(f"/slots?date={day}&calendar={ids}"), 400,
            "bad-request")
    for bad in ("limit=0", "limit=1001", "calendar=x", "calendar=1,"):
        problem(slotd.get_json(f"/slots?date={day}&{bad}"), 400,
                "bad-request")
    # A deleted calendar is gone from reads.
    assert slotd.delete(f"/calendars/{london}")[0] == 204
    wait_for(lambda: slotd.get(f"/slots?date={day}&calendar={london}")[0]
             == 404, timeout=2, what="the deleted calendar gone")


def test_tags_change_with_their_calendars_only(pg, db, slotd):
    a = create(slotd, TAN)["id"]
    b = create(slotd, {**TAN, "name": "b"})["id"]
    day = today("Asia/Singapore") + dt.timedelta(days=7)
    while day.weekday() != 2:
        day += dt.timedelta(days=1)
    wait_for(lambda: all(slotd.get(f"/slots?date={day}&calendar={c}")[0]
                         == 200 and day_doc(slotd, f"date={day}&calendar="
                                            f"{c}")[1]["slots"]
                         for c in (a, b)),
             timeout=2, what="the calendars' slots in the table")
    tag_a = day_doc(slotd, f"date={day}&calendar={a}")[0]["etag"]
    tag_ab = day_doc(slotd, f"date={day}&calendar={a},{b}")[0]["etag"]
    _, doc = day_doc(slotd, f"date={day}&calendar={b}")
    status, _, appt = slotd.post("/appointments",
                                 {"slotId": doc["slots"][0]["id"]})
    assert status == 201, appt
    assert day_doc(slotd, f"date={day}&calendar={a}")[0]["etag"] == tag_a
    assert slotd.get(f"/slots?date={day}&calendar={a}",
                     {"If-None-Match": tag_a})[0] == 304
    assert day_doc(slotd, f"date={day}&calendar={a},{b}")[0]["etag"] != \
        tag_ab
    _, doc = day_doc(slotd, f"date={day}&calendar={a}")
    slotd.post("/appointments", {"slotId": doc["slots"][0]["id"]})
    assert day_doc(slotd, f"date={day}&calendar={a}")[0]["etag"] != tag_a


def free_slots(pg, db, cid, n, after_hours=2):
    rows = pg.psql(db, "SELECT id FROM slots WHERE calendar_id = "
                   f"{cid} AND start_at > now() + interval '{after_hours} "
                   f"hours' ORDER BY start_at LIMIT {n}")
    return [int(r[0]) for r in rows]


def test_reschedule(pg, db, slotd):
    cid = rules_calendar(slotd, {})["id"]
    a, b, c = free_slots(pg, db, cid, 3)
    _, _, appt = slotd.post("/appointments", {"slotId": a, "name": "Ann"})
    key = {"Idempotency-Key": "move-1"}
    status, _, moved = slotd.post(f"/appointments/{appt['id']}/reschedule",
                                  {"slotId": b}, key)
    assert status == 200, moved
    assert moved["id"] == appt["id"] and moved["slotIds"] == [b]
    assert moved["name"] == "Ann" and moved["createdAt"] == \
        appt["createdAt"]
    assert moved["updatedAt"] >= appt["updatedAt"]
    assert (booked_count(pg, db, a), booked_count(pg, db, b)) == (0, 1)
    assert slotd.slot(a)["booked"] == 0 and slotd.slot(b)["booked"] == 1
    # A retry with its key answers the same and moves nothing again.
    status, _, again = slotd.post(f"/appointments/{appt['id']}/reschedule",
                                  {"slotId": b}, key)
    assert status == 200 and again == moved
    problem(slotd.post(f"/appointments/{appt['id']}/reschedule",
                       {"slotId": c}, key), 422, "idempotency-key-reused")
    # Onto a full slot: refused, nothing changes.
    _, _, other = slotd.post("/appointments", {"slotId": c})
    problem(slotd.post(f"/appointments/{appt['id']}/reschedule",
                       {"slotId": c}), 409, "slot-full")
    assert (booked_count(pg, db, b), booked_count(pg, db, c)) == (1, 1)
    problem(slotd.post(f"/appointments/{appt['id']}/reschedule",
                       {"slotId": 99999999}), 404, "slot-not-found")
    problem(slotd.post("/appointments/99999999/reschedule", {"slotId": c}),
            404, "not-found")
    # Into another calendar, whose window refuses it.
    strict = rules_calendar(slotd, {"minNoticeMinutes": 24 * 60})["id"]
    soon = slot_starting(pg, db, strict, 120, 180)
    problem(slotd.post(f"/appointments/{appt['id']}/reschedule",
                       {"slotId": soon}), 409, "outside-booking-window")
    later = slot_starting(pg, db, strict, 25 * 60, 26 * 60)
    status, _, moved = slotd.post(f"/appointments/{appt['id']}/reschedule",
                                  {"slotId": later})
    assert status == 200 and moved["calendarId"] == strict
    assert (booked_count(pg, db, b), booked_count(pg, db, later)) == (0, 1)
    # A cancelled appointment does not move.
    assert slotd.delete(f"/appointments/{other['id']}")[0] == 204
    problem(slotd.post(f"/appointments/{other['id']}/reschedule",
                       {"slotId": a}), 404, "not-found")


def test_reschedule_race_for_the_last_seat(pg, db, slotd):
    """Many appointments move at once onto a slot with one free seat:
    exactly one gets it; the others stay where they were."""
    cid = rules_calendar(slotd, {})["id"]
    slots = free_slots(pg, db, cid, 21)
    target, sources = slots[0], slots[1:]
    appts = [slotd.post("/appointments", {"slotId": s})[2]["id"]
             for s in sources]

    def move(aid):
        return slotd.post(f"/appointments/{aid}/reschedule",
                          {"slotId": target})[0]

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        got = list(ex.map(move, appts))
    assert got.count(200) == 1 and got.count(409) == 19, got
    assert booked_count(pg, db, target) == 1
    winner = appts[got.index(200)]
    for aid, sid in zip(appts, sources):
        want = 0 if aid == winner else 1
        assert booked_count(pg, db, sid) == want, (aid, sid)
    assert slotd.slot(target)["booked"] == 1


def test_cancel_with_a_reason(pg, db, slotd):
    cid = rules_calendar(slotd, {})["id"]
    (sid,) = free_slots(pg, db, cid, 1)
    _, _, appt = slotd.post("/appointments", {"slotId": sid})
    status, _, doc = slotd.post(f"/appointments/{appt['id']}/cancel",
                                {"reason": "down with a cold"})
    assert status == 200, doc
    assert doc["status"] == "cancelled"
    assert doc["cancelReason"] == "down with a cold"
    assert doc["cancelledAt"] and doc["updatedAt"] >= appt["updatedAt"]
    assert booked_count(pg, db, sid) == 0
    # Again: the same answer, nothing freed twice.
    status, _, again = slotd.post(f"/appointments/{appt['id']}/cancel", None,
                                  raw=b"")
    assert status == 200 and again == doc
    assert slotd.get_json(f"/appointments/{appt['id']}")[2] == doc
    assert booked_count(pg, db, sid) == 0
    problem(slotd.post(f"/appointments/{appt['id']}/cancel",
                       {"reason": "x" * 501}), 400, "invalid-field")
    problem(slotd.post("/appointments/99999999/cancel", {}), 404,
            "not-found")


def test_listing(pg, db, slotd):
    cid = rules_calendar(slotd, {})["id"]
    slots = free_slots(pg, db, cid, 7)
    made = [slotd.post("/appointments", {"slotId": s})[2] for s in slots]
    slotd.post(f"/appointments/{made[2]['id']}/cancel", {})
    status, _, doc = slotd.get_json(f"/appointments?calendar={cid}")
    assert status == 200, doc
    want = [m["id"] for i, m in enumerate(made) if i != 2]
    assert [a["id"] for a in doc["appointments"]] == want
    assert doc["next"] is None
    _, _, doc = slotd.get_json(f"/appointments?calendar={cid}&status=all")
    assert [a["id"] for a in doc["appointments"]] == [m["id"] for m in made]
    _, _, doc = slotd.get_json(f"/appointments?calendar={cid}"
                               "&status=cancelled")
    assert [a["id"] for a in doc["appointments"]] == [made[2]["id"]]
    seen, cursor = [], None
    while True:
        q = f"/appointments?calendar={cid}&status=all&limit=3" + (
            f"&cursor={cursor}" if cursor else "")
        _, _, doc = slotd.get_json(q)
        seen += [a["id"] for a in doc["appointments"]]
        cursor = doc["next"]
        if cursor is None:
            break
    assert seen == [m["id"] for m in made]
    _, _, page = slotd.get_json(f"/appointments?calendar={cid}&limit=1")
    position, mac = page["next"].split(".")
    problem(slotd.get_json(f"/appointments?cursor={position}.{'0' * 32}"),
            400, "invalid-cursor")
    start = made[0]["startTime"][:10]
    _, _, doc = slotd.get_json(f"/appointments?calendar={cid}&date={start}"
                               "&status=all")
    assert all(a["startTime"][:10] == start for a in doc["appointments"])
    for bad in ("status=gone", "limit=0", "date=2026-02-30", "colour=red",
                "calendar=x"):
        problem(slotd.get_json(f"/appointments?{bad}"), 400,
                "invalid-date" if "date" in bad else "bad-request")


def test_listing_is_one_subjects_own(pg, db, start_slotd, tmp_path):
    s = secured(start_slotd, tmp_path)
    alice, bob = bearer(sub="alice"), bearer(sub="bob")
    admin = bearer(sub="ops", role="admin")
    sids = free_slots(pg, db, 1, 3, after_hours=24)
    a1 = s.post("/appointments", {"slotId": sids[0]}, alice)[2]
    b1 = s.post("/appointments", {"slotId": sids[1]}, bob)[2]
    a2 = s.post("/appointments", {"slotId": sids[2]}, alice)[2]
    got = s.get_json("/appointments", alice)[2]["appointments"]
    assert [a["id"] for a in got] == [a1["id"], a2["id"]]
    got = s.get_json("/appointments?calendar=1", bob)[2]["appointments"]
    assert [a["id"] for a in got] == [b1["id"]]
    got = s.get_json("/appointments?calendar=1", admin)[2]["appointments"]
    assert [a["id"] for a in got] == [a1["id"], b1["id"], a2["id"]]
    # Bob can neither move nor cancel Alice's.
    problem(s.post(f"/appointments/{a1['id']}/cancel", {}, bob), 404,
            "not-found")
    problem(s.post(f"/appointments/{a1['id']}/reschedule",
                   {"slotId": sids[1]}, bob), 404, "not-found")
    assert s.get("/appointments", {})[0] == 401


def test_appointments_speak_their_calendars_zone(pg, db, slotd):
    """An appointment's times are in its calendar's zone, whatever the
    [schedule] zone (Asia/Singapore here)."""
    cal = create(slotd, {**TAN, "name": "tours", "timezone":
                         "America/Santiago", "rules": {}})
    sid = free_slots(pg, db, cal["id"], 1, after_hours=3)[0]
    wait_for(lambda: slotd.get(f"/slots/{sid}")[0] == 200 and slotd.get(
        f"/slots?date=2030-01-01&calendar={cal['id']}")[0] == 200,
        timeout=2, what="the calendar known to the workers")
    _, _, slot = slotd.get_json(f"/slots?date="
                                f"{slotd.slot(sid)['startTime'][:10]}"
                                f"&calendar={cal['id']}")
    status, _, appt = slotd.post("/appointments", {"slotId": sid})
    assert status == 201, appt
    z = ZoneInfo("America/Santiago")
    start = dt.datetime.fromisoformat(appt["startTime"])
    assert start.utcoffset() == start.astimezone(z).utcoffset()
    created = dt.datetime.fromisoformat(appt["createdAt"])
    assert created.utcoffset() == created.astimezone(z).utcoffset()
    assert slotd.get_json(f"/appointments/{appt['id']}")[2] == appt
    assert slot["timezone"] == "America/Santiago"
