"""Times at the edges: zones that count leap seconds, admin slots at the
ends of the years 0001..9999, before 1970, with fractions of a second."""
import datetime as dt
import math
import re
import urllib.parse
from zoneinfo import ZoneInfo

from harness import problem, wait_for, weekday_ahead

UTC = dt.timezone.utc

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\Z")
BOUNDS = ("must be from 0001-01-02T00:00:00Z to 9999-12-31T00:00:00Z: a "
          "day's margin inside the years 0001..9999 keeps it a four-digit "
          "year in every time zone")


def slot(start, end, capacity=1):
    return {"startTime": start, "endTime": end, "capacity": capacity}


def count(pg, db):
    return pg.psql(db, "SELECT count(*), max(version) FROM slots")


def shown(slotd, day, zone, simple=False):
    """The slots of day in zone, every time checked to be RFC 3339."""
    q = (f"/slots?date={day}&tz={urllib.parse.quote(zone, safe='/')}" +
         ("&format=simple" if simple else ""))
    status, _, doc = slotd.get_json(q)
    assert status == 200, doc
    if simple:
        return [(x["date"], x["time"]) for x in doc]
    for x in doc["slots"]:
        assert RFC3339.match(x["startTime"]) and RFC3339.match(
            x["endTime"]), x
    return [(x["startTime"], x["endTime"]) for x in doc["slots"]]


def test_right_and_posix_zones_are_refused(slotd):
    day = weekday_ahead(1)
    _, _, plain = slotd.get_json(f"/slots?date={day}&tz=UTC")
    for zone in ("right/UTC", "right/Asia/Singapore", "posix/UTC",
                 "posix/Asia/Singapore"):
        doc = problem(slotd.get(f"/slots?date={day}&tz={zone}"), 400,
                      "bad-request")
        assert doc["detail"] == ("tz: the right/ and posix/ variants of "
                                 "zones are not supported: use the plain "
                                 "name"), doc
    # Files of the zone directory that are no compiled zone.
    for zone in ("right/Nowhere", "leapseconds", "zone.tab", "tzdata.zi"):
        doc = problem(slotd.get(f"/slots?date={day}&tz={zone}"), 400,
                      "bad-request")
        assert doc["detail"] == "tz: must be a known IANA time zone", doc
    assert slotd.get_json(f"/slots?date={day}&tz=UTC")[2] == plain
    for zone in ("right/UTC", "posix/Asia/Singapore"):
        slotd.rewrite({"schedule": {"timezone": zone}})
        r = slotd.command("-t")
        assert r.returncode == 1 and "timezone" in r.stderr, r.stderr
        assert "right/ and posix/ variants" in r.stderr, r.stderr
    slotd.rewrite({"schedule": {"timezone": "Asia/Singapore"}})
    assert slotd.command("-t").returncode == 0


def test_times_that_some_zone_could_not_show_are_refused(pg, db, slotd):
    before = count(pg, db)
    for start, end, field in (
            # 10000-01-01T03:00:00Z
            ("9999-12-31T22:00:00-05:00", "9999-12-31T23:00:00-05:00",
             "startTime"),
            # 9999-12-31T03:00:00Z: in the year 9999 here, not in +14:00
            ("9999-12-30T22:00:00-05:00", "9999-12-30T23:00:00-05:00",
             "startTime"),
            ("9999-12-30T23:00:00Z", "9999-12-31T00:00:01Z", "endTime")):
        doc = problem(slotd.post("/slots", slot(start, end)), 400,
                      "invalid-field")
        assert doc["detail"] == f"{field}: {BOUNDS}", doc
        doc = problem(slotd.post("/slots", [
            slot("9999-12-29T10:00:00Z", "9999-12-29T11:00:00Z"),
            slot(start, end)]), 400, "invalid-field")
        assert doc["detail"] == f"{field}: {BOUNDS}", doc
    assert count(pg, db) == before
    assert shown(slotd, "9999-12-29", "UTC") == []

    # The last hour that may be, shown in the zones farthest east and west.
    status, _, doc = slotd.post("/slots", slot("9999-12-30T23:00:00Z",
                                               "9999-12-31T00:00:00Z"))
    assert status == 201, doc
    assert (doc["startTime"], doc["endTime"]) == (
        "9999-12-31T07:00:00+08:00", "9999-12-31T08:00:00+08:00")
    assert shown(slotd, "9999-12-31", "Pacific/Kiritimati") == [
        ("9999-12-31T13:00:00+14:00", "9999-12-31T14:00:00+14:00")]
    assert shown(slotd, "9999-12-31", "Pacific/Kiritimati", True) == [
        ("9999-12-31", "13:00")]
    assert shown(slotd, "9999-12-30", "Etc/GMT+12") == [
        ("9999-12-30T11:00:00-12:00", "9999-12-30T12:00:00-12:00")]
    assert shown(slotd, "9999-12-31", "Etc/GMT+12") == []
    assert pg.psql(db, "SET TimeZone = 'UTC'; SELECT start_at, end_at "
                   "FROM slots WHERE start_at > '9000-01-01'") == [
        ["9999-12-30 23:00:00+00", "9999-12-31 00:00:00+00"]]


def rfc3339(t, zone):
    """t (an aware datetime) as slotd writes it in zone: the offset in
    whole minutes (local mean time's seconds dropped), the wall clock
    following it."""
    off = int(t.astimezone(ZoneInfo(zone)).utcoffset().total_seconds())
    off -= int(math.fmod(off, 60))
    wall = (t.astimezone(UTC) + dt.timedelta(seconds=off)).replace(
        tzinfo=None)
    return (wall.isoformat() + ("-" if off < 0 else "+") +
            f"{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}")


def test_old_times_and_zero_fractions_are_kept_exactly(pg, db, start_slotd):
    a = start_slotd()
    b = start_slotd()               # learns of them through notifications
    sat = weekday_ahead(5)          # no schedule slots
    cases = [  # sent start, sent end, the UTC start
        (f"{sat}T01:00:00.000Z", f"{sat}T01:30:00.000Z",
         dt.datetime(sat.year, sat.month, sat.day, 1, tzinfo=UTC)),
        (f"{sat}T11:00:00.000000000+08:00", f"{sat}T03:30:00.0Z",
         dt.datetime(sat.year, sat.month, sat.day, 3, tzinfo=UTC)),
        ("1969-07-20T20:17:40Z", "1969-07-20T21:17:40.000Z",
         dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC)),
        ("1900-01-01T00:00:00Z", "1900-01-01T01:00:00+00:00",
         dt.datetime(1900, 1, 1, tzinfo=UTC)),
        ("0001-01-02T06:00:00+06:00", "0001-01-02T01:00:00Z",
         dt.datetime(1, 1, 2, tzinfo=UTC)),
    ]
    made = []
    for start, end, t in cases:
        status, _, doc = a.post("/slots", slot(start, end))
        assert status == 201, doc
        u = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        want = (rfc3339(t, "Asia/Singapore"), rfc3339(u, "Asia/Singapore"))
        assert (doc["startTime"], doc["endTime"]) == want, doc
        assert dt.datetime.fromisoformat(doc["startTime"]) == t
        made.append((doc["id"], want, t, u))
    assert made[3][1][0] == "1900-01-01T06:55:00+06:55"
    assert made[4][1][0] == "0001-01-02T06:55:00+06:55"

    rows = pg.psql(db, "SET TimeZone = 'UTC'; SELECT id, start_at, end_at, "
                   "slotd_epoch(start_at) FROM slots WHERE origin = 'admin' "
                   "ORDER BY id")
    assert rows == [[str(i), f"{t.year:04d}-{t:%m-%d %H:%M:%S}+00",
                     f"{u.year:04d}-{u:%m-%d %H:%M:%S}+00",
                     str(int((t - dt.datetime(1970, 1, 1, tzinfo=UTC))
                             .total_seconds()))]
                    for i, _, t, u in made]

    def seen(inst):
        for sid, want, t, u in made:
            doc = inst.slot(sid)
            if doc is None or (doc["startTime"], doc["endTime"]) != want:
                return False
            day = t.date().isoformat()
            if (rfc3339(t, "UTC"), rfc3339(u, "UTC")) not in shown(
                    inst, day, "UTC"):
                return False
        return True
    assert seen(a)
    wait_for(lambda: seen(b), what="the slots on the other instance")
    b.stop()
    c = start_slotd()               # loads them with the whole table
    assert seen(c)
    assert shown(c, "0001-01-01", "UTC") == []
    assert shown(c, "0001-01-01", "Asia/Singapore", True) == []
    assert shown(c, "0001-01-02", "Asia/Singapore", True) == [
        ("0001-01-02", "06:55")]
    for day in ("0000-12-31", "10000-01-01", "1969-02-29"):
        problem(c.get(f"/slots?date={day}"), 400, "invalid-date")


def test_fractions_and_leap_seconds_are_refused_with_the_reason(pg, db,
                                                                slotd):
    sat = weekday_ahead(5)
    before = count(pg, db)
    for start, end, field, why in (
            (f"{sat}T01:00:00.500Z", f"{sat}T01:30:00Z", "startTime",
             "must be a whole second: slots start and end on whole "
             "seconds"),
            (f"{sat}T01:00:00Z", f"{sat}T01:30:00.000001Z", "endTime",
             "must be a whole second: slots start and end on whole "
             "seconds"),
            ("2016-12-31T23:59:60Z", "2017-01-01T01:00:00Z", "startTime",
             "must not be a leap second (second 60): POSIX time, which "
             "slotd keeps, has none"),
            ("0001-01-01T23:59:59Z", "0001-01-02T01:00:00Z", "startTime",
             BOUNDS),
            (f"{sat}T01:00:00.Z", f"{sat}T01:30:00Z", "startTime",
             "must be an RFC 3339 time with offset, like "
             "2026-11-24T09:00:00+08:00"),
            (f"{sat}T01:00:00Z", f"{sat}T01:30:00.{'0' * 50}Z", "endTime",
             "must be 1..64 characters")):
        doc = problem(slotd.post("/slots", slot(start, end)), 400,
                      "invalid-field")
        assert doc["detail"] == f"{field}: {why}", doc
    assert count(pg, db) == before
    assert shown(slotd, sat, "UTC") == []
