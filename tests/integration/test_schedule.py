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


def next_clock_change(zone, within=400):
    """The first local date ahead whose UTC offset at 23:00 differs from
    the one at 00:00 (a DST change), and the kind of change."""
    z = ZoneInfo(zone)
    d = today(zone) + dt.timedelta(days=1)
    for _ in range(within):
        a = dt.datetime(d.year, d.month, d.day, 0, 0, tzinfo=z).utcoffset()
        b = dt.datetime(d.year, d.month, d.day, 23, 0, tzinfo=z).utcoffset()
        if a != b:
            return d, "spring" if b > a else "autumn"
        d += dt.timedelta(days=1)
    raise AssertionError("no clock change ahead in " + zone)


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
        # 02:00 happens twice; the wall-clock slots exist once each.
        assert [x[:5] for x in starts] == ["00:00", "01:00", "02:00",
                                           "03:00", "04:00"]
        assert starts[4].endswith("+01:00")
    # The day before and after keep their ordinary hours.
    for other in (day - dt.timedelta(days=1), day + dt.timedelta(days=1)):
        assert len(times(s, other)) == 5


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
        env={"LD_PRELOAD": LIBFAKETIME,
             "FAKETIME": f"@{day} 23:59:57",
             "FAKETIME_DONT_FAKE_MONOTONIC": "1",
             "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
             ":verify_asan_link_order=0"})
    assert len(times(s, day)) == 18
    assert len(times(s, day + dt.timedelta(days=1))) == 18
    assert times(s, day + dt.timedelta(days=2)) == []
    wait_for(lambda: len(times(s, day + dt.timedelta(days=2))) == 18,
             timeout=15, what="the next day's slots")
