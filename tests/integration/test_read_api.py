"""The read API of API.md (Slots section) against a real slotd and
PostgreSQL: parameters, errors, ETag/304, MessagePack, routing."""
import datetime as dt
import json
from zoneinfo import ZoneInfo

import msgpack
import pytest

from harness import SG, problem, wait_for, weekday_ahead

def test_day_document(slotd):
    day = weekday_ahead()
    status, hdrs, doc = slotd.get_json(f"/slots?date={day}")
    assert status == 200
    assert hdrs["content-type"] == "application/json"
    assert hdrs["cache-control"] == "no-cache"
    assert doc["date"] == str(day)
    assert doc["timezone"] == "Asia/Singapore"
    assert list(doc) == ["date", "timezone", "slots"]
    slots = doc["slots"]
    assert len(slots) == 16
    first = slots[0]
    assert list(first) == ["id", "calendarId", "startTime", "endTime",
                           "capacity", "booked", "availability"]
    assert first["calendarId"] == 1
    assert first["startTime"] == f"{day}T09:00:00+08:00"
    assert first["endTime"] == f"{day}T09:30:00+08:00"
    assert (first["capacity"], first["booked"], first["availability"]) == \
        (3, 0, 3)
    starts = [s["startTime"] for s in slots]
    assert starts == sorted(starts)
    assert f"{day}T12:00:00+08:00" not in starts


def test_slot_by_id(slotd):
    day = weekday_ahead()
    _, _, doc = slotd.get_json(f"/slots?date={day}")
    want = doc["slots"][3]
    status, hdrs, got = slotd.get_json(f"/slots/{want['id']}")
    assert status == 200 and got == want
    for bad in ("999999999", "0", "-1", "abc", "01", "1.5",
                "99999999999999999999"):
        problem(slotd.get(f"/slots/{bad}"), 404, "slot-not-found")
    problem(slotd.get(f"/slots/{want['id']}/x"), 404, "not-found")
    problem(slotd.get("/slots/"), 404, "not-found")


@pytest.mark.parametrize("query,code", [
    ("", "invalid-date"),
    ("?date=", "invalid-date"),
    ("?date=2026-02-30", "invalid-date"),
    ("?date=2026-1-5", "invalid-date"),
    ("?date=20261105", "invalid-date"),
    ("?date=2026-13-01", "invalid-date"),
    ("?date=2026-11-24T00:00", "invalid-date"),
    ("?date=%202026-11-24", "invalid-date"),
    ("?date=2026-11-24&days=0", "bad-request"),
    ("?date=2026-11-24&days=32", "bad-request"),
    ("?date=2026-11-24&days=01", "bad-request"),
    ("?date=2026-11-24&days=two", "bad-request"),
    ("?date=2026-11-24&days=", "bad-request"),
    ("?date=2026-11-24&available=yes", "bad-request"),
    ("?date=2026-11-24&tz=Mars/Olympus", "bad-request"),
    ("?date=2026-11-24&tz=../../etc/passwd", "bad-request"),
    ("?date=2026-11-24&format=xml", "bad-request"),
    ("?date=2026-11-24&colour=blue", "bad-request"),
    ("?date=2026-11-24&date=2026-11-25", "bad-request"),
])
def test_bad_parameters(slotd, query, code):
    status, hdrs, body = slotd.get("/slots" + query)
    doc = problem((status, hdrs, body), 400, code)
    if code == "bad-request":
        name = query.split("&")[-1].split("=")[0]
        assert name in doc["detail"], doc


def test_days_and_available(pg, db, slotd):
    monday = weekday_ahead(0)
    _, _, doc = slotd.get_json(f"/slots?date={monday}&days=7")
    assert len(doc["slots"]) == 5 * 16
    assert doc["date"] == str(monday)
    # Fill one slot from SQL: available=true leaves it out.
    full = doc["slots"][0]["id"]
    pg.psql(db, f"UPDATE slots SET booked = capacity WHERE id = {full}")
    wait_for(lambda: slotd.get_json(f"/slots/{full}")[2]["booked"] == 3)
    _, _, doc = slotd.get_json(f"/slots?date={monday}&available=true")
    assert len(doc["slots"]) == 15
    assert full not in [s["id"] for s in doc["slots"]]
    _, _, doc = slotd.get_json(f"/slots?date={monday}&available=false")
    assert len(doc["slots"]) == 16
    assert doc["slots"][0]["availability"] == 0


def test_tz_moves_day_boundaries_and_offsets(slotd):
    day = weekday_ahead(2)
    # 09:00-18:00 in Singapore is 01:00-10:00 UTC: the UTC day holds the
    # same 16 slots, shown with +00:00.
    _, _, sg = slotd.get_json(f"/slots?date={day}&days=2")
    _, _, utc = slotd.get_json(f"/slots?date={day}&tz=UTC")
    assert utc["timezone"] == "UTC"
    assert [s["id"] for s in utc["slots"]] == \
        [s["id"] for s in sg["slots"][:16]]
    assert utc["slots"][0]["startTime"] == f"{day}T01:00:00+00:00"
    # Los Angeles' calendar day spans two Singapore days.
    la_zone = ZoneInfo("America/Los_Angeles")
    want = [s["id"] for s in sg["slots"]
            if dt.datetime.fromisoformat(s["startTime"]).astimezone(
                la_zone).date() == day]
    _, _, la = slotd.get_json(f"/slots?date={day}&tz=America/Los_Angeles")
    assert la["timezone"] == "America/Los_Angeles"
    assert [s["id"] for s in la["slots"]] == want and len(want) == 16
    for s in la["slots"]:
        assert s["startTime"].startswith(str(day))
        assert s["startTime"][-6:] in ("-08:00", "-07:00")


def test_simple_format(slotd):
    day = weekday_ahead()
    status, _, doc = slotd.get_json(f"/slots?date={day}&format=simple")
    assert status == 200
    assert doc[0] == {"date": str(day), "time": "09:00",
                      "available_slots": 3}
    assert len(doc) == 16
    assert [d["time"] for d in doc][5:7] == ["11:30", "13:00"]


def test_empty_days(slotd):
    saturday = weekday_ahead(5)
    status, _, doc = slotd.get_json(f"/slots?date={saturday}")
    assert status == 200 and doc["slots"] == []
    far = dt.datetime.now(SG).date() + dt.timedelta(days=400)
    status, _, doc = slotd.get_json(f"/slots?date={far}")
    assert status == 200 and doc["slots"] == []


def test_etag_and_304(pg, db, slotd):
    day = weekday_ahead(1)
    other = weekday_ahead(3)
    s1, h1, body = slotd.get(f"/slots?date={day}")
    etag = h1["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    status, hdrs, body = slotd.get(f"/slots?date={day}",
                                   {"If-None-Match": etag})
    assert status == 304 and body == b"" and hdrs["etag"] == etag
    status, _, _ = slotd.get(f"/slots?date={day}",
                             {"If-None-Match": f'"x", W/{etag}'})
    assert status == 304
    status, _, _ = slotd.get(f"/slots?date={day}",
                             {"If-None-Match": '"something-else"'})
    assert status == 200
    # Another representation of the same day has its own tag.
    _, h2, _ = slotd.get(f"/slots?date={day}&format=simple")
    assert h2["etag"] != etag
    _, h3, _ = slotd.get(f"/slots?date={day}",
                         {"Accept": "application/msgpack"})
    assert h3["etag"] != etag
    # A change on another day keeps the tag; one on this day changes it.
    _, _, odoc = slotd.get_json(f"/slots?date={other}")
    oid = odoc["slots"][0]["id"]
    pg.psql(db, f"UPDATE slots SET capacity = 5 WHERE id = {oid}")
    wait_for(lambda: slotd.get_json(f"/slots/{oid}")[2]["capacity"] == 5)
    assert slotd.get(f"/slots?date={day}")[1]["etag"] == etag
    _, _, doc = slotd.get_json(f"/slots?date={day}")
    sid = doc["slots"][0]["id"]
    pg.psql(db, f"UPDATE slots SET capacity = 4 WHERE id = {sid}")
    wait_for(lambda: slotd.get(f"/slots?date={day}")[1]["etag"] != etag)
    status, _, _ = slotd.get(f"/slots?date={day}", {"If-None-Match": etag})
    assert status == 200


def test_msgpack_is_the_same_document(slotd):
    day = weekday_ahead()
    for query in (f"?date={day}", f"?date={day}&format=simple",
                  f"?date={day}&days=3&tz=UTC"):
        _, _, doc = slotd.get_json("/slots" + query)
        status, hdrs, body = slotd.get(
            "/slots" + query, {"Accept": "application/msgpack"})
        assert status == 200
        assert hdrs["content-type"] == "application/msgpack"
        assert msgpack.unpackb(body, raw=False) == doc
    _, _, doc = slotd.get_json(f"/slots?date={day}")
    sid = doc["slots"][0]["id"]
    status, hdrs, body = slotd.get(f"/slots/{sid}", {
        "Accept": "text/html;q=0.9, application/msgpack"})
    assert msgpack.unpackb(body, raw=False) == doc["slots"][0]
    status, hdrs, body = slotd.get(f"/slots/{sid}", {
        "Accept": "application/msgpack;q=0, application/json"})
    assert hdrs["content-type"] == "application/json"


# (Accept, whether MessagePack is the answer): the supported type with
# the highest q wins (RFC 9110 section 12.5.1); wildcards count for JSON;
# MessagePack wins a tie when it is named; nothing acceptable is JSON.
ACCEPT_CASES = [
    ("application/json;q=1, application/msgpack;q=0.1", False),
    ("application/json ; q=1 ,application/msgpack ;\tq=0.1", False),
    ("application/msgpack;q=0.7, application/json;q=0.5", True),
    ("application/msgpack;q=0.5, application/json;q=0.7", False),
    ("application/x-msgpack;q=0.5, application/json;q=0.7", False),
    ("application/json;Q=0.2, application/x-msgpack", True),
    ("application/msgpack;Q=0.2, APPLICATION/JSON", False),
    ("application/msgpack;q=0", False),
    ("application/msgpack;q=0.000, application/x-msgpack;q=0", False),
    ("*/*;q=0.9, application/msgpack;q=0.8", False),
    ("application/*;q=0.5, application/msgpack;q=0.6", True),
    ("application/*;q=0.5, application/msgpack;q=0.4", False),
    ("application/json;q=0, */*, application/msgpack;q=0.1", True),
    ("application/json;charset=utf-8;q=0.3, "
     "application/msgpack;v=2;q=0.4;ext=1", True),
    ("application/msgpack;v=2;q=0.4, application/json;charset=utf-8", False),
    ('application/msgpack;x="a, b;q=1";q=0.2, application/json;q=0.3', False),
    ("application/json, application/msgpack", True),
    ("application/msgpack;q=0.500, application/json;q=0.5", True),
    ("application/msgpack;q=1.0", True),
    ("text/html, application/json;q=0", False),
    ("text/html;q=0.9, application/msgpack;q=0.1", True),
]


def test_accept_q_values(slotd):
    day = weekday_ahead()
    sid = slotd.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    status, _, appt = slotd.post("/appointments", {"slotId": sid})
    assert status == 201
    for path in (f"/slots?date={day}", f"/appointments/{appt['id']}"):
        want = slotd.get_json(path)[2]
        for accept, packed in ACCEPT_CASES:
            status, hdrs, body = slotd.get(path, {"Accept": accept})
            assert status == 200
            if packed:
                assert hdrs["content-type"] == "application/msgpack", accept
                assert msgpack.unpackb(body, raw=False) == want, accept
            else:
                assert hdrs["content-type"] == "application/json", accept
                assert json.loads(body) == want, accept


def test_head(slotd):
    day = weekday_ahead()
    status, hdrs, body = slotd.request("HEAD", f"/slots?date={day}")
    assert status == 200 and body == b"" and "etag" in hdrs


def test_routing_errors(slotd):
    problem(slotd.get("/nope"), 404, "not-found")
    problem(slotd.get("/"), 404, "not-found")
    problem(slotd.get("/slotsx"), 404, "not-found")
    for method, path, allow in (
            ("PUT", "/slots", "GET, HEAD, POST"),
            ("DELETE", "/slots", "GET, HEAD, POST"),
            ("POST", "/slots/1", "GET, HEAD, DELETE, PATCH"),
            ("POST", "/healthz", "GET, HEAD"),
            ("DELETE", "/readyz", "GET, HEAD")):
        status, hdrs, body = slotd.request(method, path)
        problem((status, hdrs, body), 405, "method-not-allowed")
        assert hdrs["allow"] == allow


def test_health_and_readiness(slotd):
    status, _, doc = slotd.get_json("/healthz")
    assert status == 200 and doc == {"status": "ok"}
    status, _, doc = slotd.get_json("/readyz")
    assert status == 200 and doc == {"status": "ready"}


def test_not_ready_without_database(pg, start_slotd):
    s = start_slotd(conninfo=f"host=127.0.0.1 port={pg.port + 1} "
                    "user=postgres dbname=none connect_timeout=2",
                    migrate=False, wait_ready=False)
    wait_for(lambda: s.get("/healthz")[0] == 200, what="healthz")
    status, hdrs, body = s.get("/readyz")
    problem((status, hdrs, body), 503, "unavailable")
    assert hdrs["retry-after"] == "1"
    problem(s.get("/slots?date=2026-11-24"), 503, "unavailable")
