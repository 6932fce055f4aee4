"""Reads in several time zones, one after the other: each zone is read
from the zone database once per worker and kept, so that a read in a zone
already used makes no system call on a file (strace on the worker)."""
import re
import urllib.parse

from harness import wait_for, weekday_ahead
from strace import Strace

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo",
         "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata",
         "Africa/Monrovia", "Pacific/Chatham")


def worker_pid(s):
    m = wait_for(lambda: re.search(r"worker \d+\[(\d+)\]: serving",
                                   s.log_text()), what="the worker's pid")
    return int(m.group(1))


def read(s, day, zone):
    q = f"/slots?date={day}&tz={urllib.parse.quote(zone, safe='/')}"
    status, _, doc = s.get_json(q)
    assert status == 200, doc
    assert doc["timezone"] == zone and doc["slots"], doc
    return doc


def test_reads_in_kept_zones_touch_no_file(start_slotd):
    s = start_slotd(workers=1, extra={"server": {"log_level": "debug"}})
    pid = worker_pid(s)
    monday = weekday_ahead(0)
    days = [monday.fromordinal(monday.toordinal() + i) for i in range(5)]
    day = days[0]
    for zone in ZONES:                  # each zone read once, and kept
        read(s, day, zone)
    trace = Strace(pid, "trace=%file,accept,accept4")
    try:
        # Cached answers and new ones, the zone changing at each read.
        for d in days:
            for zone in ZONES:
                read(s, d, zone)
    finally:
        calls, text = trace.stop()
    accepts = [c for c in calls if c.startswith("accept")]
    files = [c for c in calls if not c.startswith("accept")]
    assert len(accepts) >= len(days) * len(ZONES), text[-2000:]
    assert files == [], text[-4000:]
