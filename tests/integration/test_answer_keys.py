"""Every GET /slots answer belongs to its own query: thousands of distinct
(date, days, tz, available, format, media type) queries on one keep-alive
connection (so one worker and its answer cache), each answer checked
against the slots rows, and no two different queries sharing an ETag.

The queries include pairs that shared a tag when the tag's query part was
a 32-bit FNV-1a hash: a worker then answered the second query with the
first one's cached body."""
import bisect
import datetime as dt
import http.client
import json
import random
import struct
import urllib.parse
import zoneinfo

import msgpack

from harness import wait_for

SANTIAGO = zoneinfo.ZoneInfo("America/Santiago")
EPOCH = dt.date(1970, 1, 1)


def _fnv(h, data):
    for c in data:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def old_variant(day, zone, days, flags):
    """The former tag's query part: FNV-1a over the day number, the zone,
    days and the flags (available | simple << 1 | msgpack << 2)."""
    h = _fnv(2166136261, struct.pack("<q", (day - EPOCH).days))
    h = _fnv(h, zone.encode())
    h = _fnv(h, struct.pack("<i", days))
    return _fnv(h, struct.pack("<Q", flags))


def midnight_is_ambiguous(day, zone):
    z = zoneinfo.ZoneInfo(zone)
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=z)
    return t0.utcoffset() != t0.replace(fold=1).utcoffset()


def usable(q):
    day, zone, days = q[0], q[1], q[2]
    return not (midnight_is_ambiguous(day, zone) or
                midnight_is_ambiguous(day + dt.timedelta(days=days), zone))


def colliding_pairs(first, last, zones):
    """Queries of one day whose old tags were equal, pair by pair."""
    seen, pairs = {}, []
    day = first
    while day <= last:
        for zone in zones:
            for flags in range(8):
                q = (day, zone, 1, flags & 1, flags >> 1 & 1, flags >> 2)
                v = old_variant(day, zone, 1, flags)
                if v in seen:
                    pairs.append((seen[v], q))
                else:
                    seen[v] = q
        day += dt.timedelta(days=1)
    return [p for p in pairs if usable(p[0]) and usable(p[1])]


def local_start(day, zone):
    """UTC seconds of the day's first instant in zone."""
    t = dt.datetime(day.year, day.month, day.day,
                    tzinfo=zoneinfo.ZoneInfo(zone))
    return int(t.timestamp())


def expected(rows, starts, q):
    day, zone, days, available, simple, _ = q
    z = zoneinfo.ZoneInfo(zone)
    lo = bisect.bisect_left(starts, local_start(day, zone))
    hi = bisect.bisect_left(
        starts, local_start(day + dt.timedelta(days=days), zone))
    out = []
    for sid, start, end, cap, booked in rows[lo:hi]:
        free = max(cap - booked, 0)
        if available and free == 0:
            continue
        s = dt.datetime.fromtimestamp(start, z)
        if simple:
            out.append({"date": s.strftime("%Y-%m-%d"),
                        "time": s.strftime("%H:%M"),
                        "available_slots": free})
        else:
            out.append({"id": sid, "calendarId": 1,
                        "startTime": s.isoformat(),
                        "endTime": dt.datetime.fromtimestamp(
                            end, z).isoformat(),
                        "capacity": cap, "booked": booked,
                        "availability": free})
    if simple:
        return out
    return {"date": day.isoformat(), "timezone": zone, "slots": out}


def path(q):
    day, zone, days, available, simple, _ = q
    p = f"/slots?date={day}&tz={urllib.parse.quote(zone, safe='/')}"
    if days != 1:
        p += f"&days={days}"
    if available or random.random() < 0.3:
        p += f"&available={'true' if available else 'false'}"
    if simple:
        p += "&format=simple"
    return p


def test_each_query_gets_its_own_answer_and_tag(pg, db, start_slotd):
    s = start_slotd(schedule={
        "timezone": "America/Santiago", "days": "mon-sun",
        "hours": "00:00-24:00", "slot_minutes": "60", "breaks": "",
        "capacity": "2", "horizon_days": "400"})
    # Some full slots and some half-booked, so that available=true and
    # the seat counts differ between days.
    pg.psql(db, "UPDATE slots SET booked = 2 WHERE id % 7 = 0; "
            "UPDATE slots SET booked = 1 WHERE id % 5 = 0 AND id % 7 <> 0")
    probe = int(pg.psql(db, "SELECT max(id) FROM slots WHERE id % 7 = 0")
                [0][0])
    wait_for(lambda: s.get_json(f"/slots/{probe}")[2]["booked"] == 2)
    rows = [tuple(int(v) for v in r) for r in pg.psql(
        db, "SELECT id, floor(extract(epoch FROM start_at)), "
        "floor(extract(epoch FROM end_at)), capacity, booked FROM slots "
        "ORDER BY start_at")]
    starts = [r[1] for r in rows]

    today = dt.datetime.now(SANTIAGO).date()
    first, last = today + dt.timedelta(days=2), today + dt.timedelta(days=390)
    zones = sorted(z for z in zoneinfo.available_timezones()
                   if not z.startswith(("right/", "posix/")) and
                   z not in ("Factory", "localtime"))
    pairs = colliding_pairs(first, last, zones)
    assert len(pairs) > 100, len(pairs)

    rnd = random.Random(10)
    some = ["UTC", "Asia/Singapore", "America/Santiago", "America/Cancun",
            "Australia/Lindeman", "Australia/Lord_Howe", "Europe/Berlin",
            "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
            "Pacific/Chatham", "America/St_Johns", "Pacific/Kiritimati",
            "Africa/Casablanca"]
    queries = [q for pair in pairs for q in pair]
    while len(queries) < 3000:
        q = (first + dt.timedelta(days=rnd.randrange(380)), rnd.choice(some),
             rnd.choice([1, 1, 2, 3, 7]), rnd.randrange(2), rnd.randrange(2),
             rnd.randrange(2))
        if usable(q):
            queries.append(q)

    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    tags = {}

    def ask(q, headers=None):
        hdrs = {"Accept": "application/msgpack"} if q[5] else {}
        hdrs.update(headers or {})
        conn.request("GET", path(q), headers=hdrs)
        r = conn.getresponse()
        return r.status, r.getheader("ETag"), r.read()

    try:
        for q in queries:
            status, tag, body = ask(q)
            assert status == 200, (q, body)
            doc = msgpack.unpackb(body) if q[5] else json.loads(body)
            assert doc == expected(rows, starts, q), q
            assert tags.setdefault(tag, q) == q, \
                f"{q} and {tags[tag]} share the tag {tag}"
        # Each query's tag revalidates that query only.
        for a, b in pairs:
            ta = next(t for t, q in tags.items() if q == a)
            assert ask(a, {"If-None-Match": ta})[0] == 304
            status, tag, _ = ask(b, {"If-None-Match": ta})
            assert status == 200 and tag != ta, (a, b)
    finally:
        conn.close()
