"""Slots materialised from [schedule]: open days, hours, breaks, days off,
the horizon, clock changes, and idempotent generation."""
import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest

from harness import wait_for

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def today(zone):
    return dt.datetime.now(ZoneInfo(zone)).date()


def upcoming(zone, weekday, after=1):
    d = today(zone) + dt.timedelta(days=after)
    while d.weekday() != weekday:
        d += dt.timedelta(days=1)
    return d


def day_length(zone, d):
    """The real length of local date d: from its first second to the
    next day's (zoneinfo's fold=0 puts a skipped midnight at the end of
    the gap)."""
    z = ZoneInfo(zone)
    n = d + dt.timedelta(days=1)
    return (dt.datetime(n.year, n.month, n.day, tzinfo=z) -
            dt.datetime(d.year, d.month, d.day, tzinfo=z).astimezone(
                dt.timezone.utc))


def next_clock_change(zone, kind=None, within=400):
    """The first local date ahead that is shorter ("spring") or longer
    ("autumn") than 24 hours, of the kind asked if any, and its kind."""
    d = today(zone) + dt.timedelta(days=1)
    for _ in range(within):
        length = day_length(zone, d)
        if length != dt.timedelta(days=1):
            found = "spring" if length < dt.timedelta(days=1) else "autumn"
            if kind in (None, found):
                return d, found
        d += dt.timedelta(days=1)
    raise AssertionError(f"no {kind or 'clock'} change ahead in {zone}")


def expected_slots(zone, day, start, end, minutes):
    """The slots of day computed with zoneinfo: a slot at each occurrence
    (fold 0 and 1) of each wall time of the grid that exists, lasting its
    minutes, unless it overlaps the slot before it."""
    z = ZoneInfo(zone)
    starts = set()
    for m in range(start, end - minutes + 1, minutes):
        wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=m)
        for fold in (0, 1):
            t = wall.replace(tzinfo=z, fold=fold)
            if t.astimezone(dt.timezone.utc).astimezone(z).replace(
                    tzinfo=None) == wall:
                starts.add(t.astimezone(dt.timezone.utc))
    out = []
    for t in sorted(starts):
        if not out or t >= out[-1][1]:
            out.append((t, t + dt.timedelta(minutes=minutes)))
    return [(a.astimezone(z).isoformat(), b.astimezone(z).isoformat())
            for a, b in out]


def faked_clock(at):
    """The environment that starts slotd's clock at `at` (UTC)."""
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"@{at}",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
            ":verify_asan_link_order=0"}


def times(slotd, day):
    _, _, doc = slotd.get_json(f"/slots?date={day}&format=simple")
    return [s["time"] for s in doc]


def test_open_days_hours_breaks_and_days_off(start_slotd):
    zone = "Asia/Singapore"
    wed = upcoming(zone, 2)
    off = upcoming(zone, 4)                  # a Friday made a holiday
    s = start_slotd(schedule={
        "days": "mon,wed,fri", "hours": "08:00-11:45", "slot_minutes": "45",
        "breaks": "09:30-10:15", "days_off": f"2030-01-01, {off}",
        "capacity": "2", "horizon_days": "14"})
    assert times(s, wed) == ["08:00", "08:45", "10:15", "11:00"]
    _, _, doc = s.get_json(f"/slots?date={wed}")
    assert all(x["capacity"] == 2 for x in doc["slots"])
    assert doc["slots"][-1]["endTime"] == f"{wed}T11:45:00+08:00"
    assert times(s, upcoming(zone, 1)) == []          # Tuesday
    assert times(s, upcoming(zone, 6)) == []          # Sunday
    assert times(s, off) == []
    assert len(times(s, upcoming(zone, 0))) == 4      # Monday


def test_horizon(start_slotd):
    zone = "UTC"
    s = start_slotd(schedule={"timezone": zone, "days": "mon-sun",
                              "horizon_days": "3", "breaks": ""})
    t = today(zone)
    assert len(times(s, t)) == 18
    assert len(times(s, t + dt.timedelta(days=2))) == 18
    assert times(s, t + dt.timedelta(days=3)) == []
    assert times(s, t - dt.timedelta(days=1)) == []


def test_clock_change_day(start_slotd):
    zone = "Europe/Berlin"
    day, kind = next_clock_change(zone)
    horizon = (day - today(zone)).days + 2
    s = start_slotd(schedule={"timezone": zone, "days": "mon-sun",
                              "hours": "00:00-05:00", "slot_minutes": "60",
                              "breaks": "", "horizon_days": str(horizon)})
    _, _, doc = s.get_json(f"/slots?date={day}")
    starts = [x["startTime"][11:] for x in doc["slots"]]
    if kind == "spring":
        # 02:00 does not exist: no slot starts then; 01:00 lasts one hour.
        assert starts == ["00:00:00+01:00", "01:00:00+01:00",
                          "03:00:00+02:00", "04:00:00+02:00"]
        assert doc["slots"][1]["endTime"][11:] == "03:00:00+02:00"
    else:
        # 02:00 happens twice and starts a slot each time.
        assert starts == ["00:00:00+02:00", "01:00:00+02:00",
                          "02:00:00+02:00", "02:00:00+01:00",
                          "03:00:00+01:00", "04:00:00+01:00"]
    assert all(dt.datetime.fromisoformat(x["endTime"]) -
               dt.datetime.fromisoformat(x["startTime"]) ==
               dt.timedelta(hours=1) for x in doc["slots"])
    # The day before and after keep their ordinary hours.
    for other in (day - dt.timedelta(days=1), day + dt.timedelta(days=1)):
        assert len(times(s, other)) == 5


@pytest.mark.parametrize("zone,minutes,kind,count", [
    ("America/Santiago", 60, "autumn", 25),
    ("America/Santiago", 60, "spring", 23),
    ("Australia/Lord_Howe", 30, "autumn", 49),
    ("Australia/Lord_Howe", 30, "spring", 47),
    ("America/Santiago", 5, "autumn", 300)])
def test_slots_last_their_length_when_the_clocks_change(
        pg, db, start_slotd, zone, minutes, kind, count):
    """Santiago changes at midnight, Lord Howe by half an hour: on the day
    the clocks go back a repeated time starts a slot each time, on the day
    they go forward a skipped one starts none, and every slot lasts its
    minutes.  A change further ahead than a month is reached by starting
    slotd two days before it on a clock faked by libfaketime."""
    day = next_clock_change(zone, kind)[0]
    env = None
    if day - today(zone) > dt.timedelta(days=30):
        if not os.path.exists(LIBFAKETIME):
            pytest.skip("libfaketime is not installed")
        env = faked_clock(f"{day - dt.timedelta(days=2)} 12:00:00")
        horizon = 5
    else:
        horizon = (day - today(zone)).days + 2
    s = start_slotd(schedule={"timezone": zone, "days": "mon-sun",
                              "hours": "00:00-24:00",
                              "slot_minutes": str(minutes), "breaks": "",
                              "horizon_days": str(horizon)}, env=env)
    for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
        want = expected_slots(zone, d, 0, 24 * 60, minutes)
        _, _, doc = s.get_json(f"/slots?date={d}")
        got = [(x["startTime"], x["endTime"]) for x in doc["slots"]]
        assert got == want, d
        assert len(got) == (count if d == day else 24 * 60 // minutes), d
    first = dt.datetime.combine(day, dt.time(), ZoneInfo(zone)) \
        .astimezone(dt.timezone.utc)
    n = pg.psql(db, "SELECT count(*), count(DISTINCT end_at - start_at) "
                f"FROM slots WHERE start_at >= '{first}' AND start_at < "
                f"'{first + day_length(zone, day)}'")
    assert n == [[str(count), "1"]], n
    assert "slots more than" not in s.log_text()


def test_generation_is_idempotent_across_restarts_and_instances(
        pg, db, start_slotd):
    a = start_slotd()
    count = pg.psql(db, "SELECT count(*) FROM slots")[0][0]
    assert int(count) > 0
    b = start_slotd()
    a.stop()
    c = start_slotd()
    assert pg.psql(db, "SELECT count(*) FROM slots")[0][0] == count
    assert pg.psql(db, "SELECT count(*) FROM (SELECT start_at FROM slots "
                   "GROUP BY 1 HAVING count(*) > 1) d")[0][0] == "0"
    for inst in (b, c):
        _, _, doc = inst.get_json(
            f"/slots?date={upcoming('Asia/Singapore', 1)}")
        assert len(doc["slots"]) == 16


def test_existing_admin_slot_is_left_alone(pg, db, start_slotd):
    """A hand-made slot overlapping the schedule is kept; the generated
    slots it overlaps are not created."""
    day = upcoming("Asia/Singapore", 3)
    s = start_slotd(schedule={"horizon_days": "1"})    # migrate only today
    pg.psql(db, "INSERT INTO slots (start_at, end_at, capacity) VALUES "
            f"('{day} 09:15+08', '{day} 10:15+08', 7)")
    s.stop()
    s2 = start_slotd()
    _, _, doc = s2.get_json(f"/slots?date={day}")
    got = [(x["startTime"][11:16], x["capacity"]) for x in doc["slots"]]
    assert got[:3] == [("09:15", 7), ("10:30", 3), ("11:00", 3)]


@pytest.mark.skipif(not os.path.exists(LIBFAKETIME),
                    reason="libfaketime is not installed")
def test_horizon_rolls_forward_at_midnight(start_slotd):
    """slotd starts three seconds before midnight (a clock faked by
    libfaketime); once the day turns, the horizon gains the next day."""
    day = today("UTC") + dt.timedelta(days=10)
    s = start_slotd(
        schedule={"timezone": "UTC", "days": "mon-sun", "breaks": "",
                  "horizon_days": "2"},
        env=faked_clock(f"{day} 23:59:57"))
    assert len(times(s, day)) == 18
    assert len(times(s, day + dt.timedelta(days=1))) == 18
    assert times(s, day + dt.timedelta(days=2)) == []
    wait_for(lambda: len(times(s, day + dt.timedelta(days=2))) == 18,
             timeout=15, what="the next day's slots")
