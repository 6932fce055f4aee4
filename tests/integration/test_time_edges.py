"""Times at the edges: zones that count leap seconds, admin slots at the
ends of the years 0001..9999, before 1970, with fractions of a second."""
import re
import urllib.parse

from harness import problem, weekday_ahead

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
    doc = problem(slotd.get(f"/slots?date={day}&tz=right/Nowhere"), 400,
                  "bad-request")
    assert doc["detail"] == "tz: must be a known IANA time zone", doc
    assert slotd.get_json(f"/slots?date={day}&tz=UTC")[2] == plain
    for zone in ("right/UTC", "posix/Asia/Singapore"):
        slotd.rewrite({"schedule": {"timezone": zone}})
        r = slotd.command("-t")
        assert r.returncode == 1 and "timezone" in r.stderr, r.stderr
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
