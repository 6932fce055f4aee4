"""Times at the edges: zones that count leap seconds, admin slots at the
ends of the years 0001..9999, before 1970, with fractions of a second."""
from harness import problem, weekday_ahead


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
