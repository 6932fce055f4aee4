"""Every document of API.md that negotiates MessagePack (`Accept:
application/msgpack`) decodes to the JSON answer of the same request, field
for field and type for type: the slots day (full and simple), one slot,
appointments (created, replayed, read, cancelled), holds, the admin
answers to POST and PATCH /slots, calendars, listings, events, webhooks and
waitlist entries.  The bodies that do not negotiate
(problems, /healthz, /readyz) stay JSON whatever the Accept."""
import datetime as dt
import http.client
import json
import re

import msgpack
import pytest

from harness import problem, weekday_ahead

MSGPACK = {"Accept": "application/msgpack"}


@pytest.fixture
def s(start_slotd):
    return start_slotd(schedule={"max_slots_per_appointment": "2"})


def same(got, want, path="$"):
    """got is want: same types (an int is no float or bool), same keys in
    the same order, same values."""
    assert type(got) is type(want), f"{path}: {got!r} vs {want!r}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)} vs " \
            f"{list(want)}"
        for k in want:
            same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{path}: {len(got)} values vs " \
            f"{len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{path}[{i}]")
    else:
        assert got == want, f"{path}: {got!r} vs {want!r}"


def as_json(resp):
    status, hdrs, body = resp
    assert hdrs["content-type"] == "application/json", (status, body)
    return status, hdrs, json.loads(body)


def as_msgpack(resp):
    """The body as one MessagePack object: strings as str (never bin),
    and no bytes left over (unpackb raises ExtraData)."""
    status, hdrs, body = resp
    assert hdrs["content-type"] == "application/msgpack", (status, body)
    return status, hdrs, msgpack.unpackb(body, raw=False)


def send(s, method, path, doc=None, headers=None):
    """A request with doc as its JSON body.  A worker that stops on a
    broken document closes the connection: the failure then shows the
    worker's last lines."""
    hdrs = dict(headers or {})
    body = None
    if doc is not None:
        hdrs["Content-Type"] = "application/json"
        body = json.dumps(doc).encode()
    try:
        return s.request(method, path, body=body, headers=hdrs)
    except (http.client.HTTPException, ConnectionError) as e:
        raise AssertionError(f"{method} {path} {hdrs}: {e!r}; log: "
                             f"{s.log_text()[-1500:]}") from e


def both(s, path):
    """GET path as JSON and as MessagePack; they must be the same."""
    status, _, want = as_json(send(s, "GET", path))
    got_status, _, got = as_msgpack(send(s, "GET", path, None, MSGPACK))
    assert (got_status, status) == (200, 200), (got, want)
    same(got, want)
    return want


def test_slot_documents(s):
    day = weekday_ahead(1, after=2)
    slots = both(s, f"/slots?date={day}")["slots"]
    assert len(slots) == 16
    # Seats taken by an appointment and a hold, and one slot full.
    assert send(s, "POST", "/appointments", {"slotId": slots[0]["id"]})[0] \
        == 201
    assert send(s, "POST", "/holds", {"slotId": slots[1]["id"]})[0] == 201
    for _ in range(3):
        assert send(s, "POST", "/appointments",
                    {"slotId": slots[2]["id"]})[0] == 201
    for query in ("", "&format=simple", "&days=3&tz=UTC", "&days=7",
                  "&available=true", "&available=true&format=simple",
                  "&tz=America/Los_Angeles"):
        # Twice: the second answer comes from the worker's cache.
        for _ in range(2):
            doc = both(s, f"/slots?date={day}{query}")
            assert doc["slots"] if isinstance(doc, dict) else doc
    doc = both(s, f"/slots?date={day}")
    assert [x["booked"] for x in doc["slots"][:3]] == [1, 1, 3]
    simple = both(s, f"/slots?date={day}&format=simple")
    assert simple[2]["available_slots"] == 0
    # Empty days: a weekend and beyond the horizon.
    assert both(s, f"/slots?date={weekday_ahead(5)}")["slots"] == []
    assert both(s, f"/slots?date={weekday_ahead(5)}&format=simple") == []
    far = dt.date.today() + dt.timedelta(days=400)
    assert both(s, f"/slots?date={far}")["slots"] == []
    for x in doc["slots"][:4]:
        same(both(s, f"/slots/{x['id']}"), x)


def test_appointment_documents(s):
    slots = both(s, f"/slots?date={weekday_ahead(2, after=2)}")["slots"]
    full = {"slotId": slots[0]["id"], "name": "Ada Tan \u00e9\U0001f600",
            "email": "ada@example.com", "note": 'say "hi"\n\ttwice'}
    bare = {"slotId": slots[2]["id"], "slots": 2}
    for i, body in enumerate((full, bare)):
        # The same request: the retry with the key is answered from the
        # first (same id, same createdAt), in the other encoding; the
        # first is JSON once and MessagePack once.
        key = {"Idempotency-Key": f"msgpack-{i}"}
        first = send(s, "POST", "/appointments", body,
                     {**key, **MSGPACK} if i else key)
        again = send(s, "POST", "/appointments", body,
                     key if i else {**key, **MSGPACK})
        if i:
            first, again = again, first
        status, hdrs, want = as_json(first)
        got_status, got_hdrs, got = as_msgpack(again)
        assert status == got_status == 201, want
        assert hdrs["location"] == got_hdrs["location"] == \
            f"/appointments/{want['id']}"
        same(got, want)
        same(both(s, hdrs["location"]), want)
    assert len(want["slotIds"]) == 2 and want["name"] is None
    # Cancelled.
    assert s.delete(hdrs["location"])[0] == 204
    assert both(s, hdrs["location"])["status"] == "cancelled"
    # Booked from a hold, answered in MessagePack.
    _, _, hold = as_msgpack(send(s, "POST", "/holds",
                                 {"slotId": slots[5]["id"]}, MSGPACK))
    status, hdrs, got = as_msgpack(send(s, "POST", "/appointments",
                                        {"holdId": hold["id"]}, MSGPACK))
    assert status == 201, got
    same(got, as_json(send(s, "GET", hdrs["location"]))[2])


def test_hold_documents(s):
    """Two holds of the same seats (capacity 3): the same document but
    for the new id and, perhaps, the second of expiresAt."""
    sid = both(s, f"/slots?date={weekday_ahead(3, after=2)}")["slots"][0][
        "id"]
    status, hdrs, want = as_json(send(s, "POST", "/holds",
                                      {"slotId": sid, "slots": 2}))
    got_status, got_hdrs, got = as_msgpack(send(
        s, "POST", "/holds", {"slotId": sid, "slots": 2}, MSGPACK))
    assert status == got_status == 201, (want, got)
    assert got_hdrs["location"] == f"/holds/{got['id']}"
    assert re.fullmatch(r"[0-9a-f-]{36}", got["id"]) and \
        got["id"] != want["id"]
    assert isinstance(got["expiresAt"], str)
    gap = dt.datetime.fromisoformat(got["expiresAt"]) - \
        dt.datetime.fromisoformat(want["expiresAt"])
    assert dt.timedelta(0) <= gap <= dt.timedelta(seconds=2), gap
    same(dict(got, id=want["id"], expiresAt=want["expiresAt"]), want)
    assert len(want["slotIds"]) == 2


def test_admin_slot_documents(s):
    day = weekday_ahead(5, after=8)                # a Saturday: no slots
    one = {"startTime": f"{day}T10:00:00+08:00",
           "endTime": f"{day}T10:45:00+08:00", "capacity": 2}
    status, hdrs, got = as_msgpack(send(s, "POST", "/slots", one, MSGPACK))
    assert status == 201, got
    assert hdrs["location"] == f"/slots/{got['id']}"
    same(got, as_json(send(s, "GET", hdrs["location"]))[2])
    many = [{"startTime": f"{day}T11:00:00+08:00",
             "endTime": f"{day}T11:30:00+08:00", "capacity": 1},
            {"startTime": f"{day}T03:30:00Z",
             "endTime": f"{day}T04:00:00Z", "capacity": 3}]
    status, _, got = as_msgpack(send(s, "POST", "/slots", many, MSGPACK))
    assert status == 201 and len(got) == 2, got
    same(got, [as_json(send(s, "GET", f"/slots/{x['id']}"))[2]
               for x in got])
    same(both(s, f"/slots?date={day}")["slots"][1:], got)
    # PATCH to the same capacity twice: the same answer in both.
    sid = got[0]["id"]
    status, _, want = as_json(send(s, "PATCH", f"/slots/{sid}",
                                   {"capacity": 4}))
    got_status, _, got = as_msgpack(send(s, "PATCH", f"/slots/{sid}",
                                         {"capacity": 4}, MSGPACK))
    assert status == got_status == 200, (want, got)
    same(got, want)
    same(got, as_json(send(s, "GET", f"/slots/{sid}"))[2])
    assert got["capacity"] == 4


def test_second_wave_documents(start_slotd):
    """Calendars, listings, events, webhooks and waitlist entries."""
    s = start_slotd(schedule={"capacity": "1"})
    slots = both(s, f"/slots?date={weekday_ahead(2, after=2)}")["slots"]
    assert send(s, "POST", "/appointments", {"slotId": slots[0]["id"]})[0] \
        == 201
    status, hdrs, entry = as_msgpack(send(s, "POST", "/waitlist",
                                          {"slotId": slots[0]["id"]},
                                          MSGPACK))
    assert status == 201, entry
    same(both(s, hdrs["location"]), entry)
    assert entry["holdId"] is None and entry["position"] == 1
    status, hdrs, hook = as_msgpack(send(s, "POST", "/webhooks", {
        "url": "http://127.0.0.1:9/x", "events": ["appointment.booked"]},
        MSGPACK))
    assert status == 201 and hook["enabled"] is True, hook
    want = dict(hook)
    del want["secret"]
    same(both(s, hdrs["location"]), want)
    both(s, "/webhooks")
    assert both(s, "/calendars/1")["id"] == 1
    both(s, "/calendars?limit=5")
    assert both(s, "/appointments?status=all")["appointments"]
    # The cancel offers the seat: events of both kinds.
    assert s.delete("/appointments/1")[0] == 204
    events = both(s, "/events")["events"]
    assert [e["type"] for e in events] == [
        "appointment.booked", "appointment.cancelled", "waitlist.offered"]
    assert both(s, f"/waitlist/{entry['id']}")["status"] == "offered"


def test_problems_and_probes_stay_json(s):
    """Problems are application/problem+json (API.md) and the probes JSON,
    whatever the Accept."""
    day = weekday_ahead(5, after=8)
    status, _, full = as_json(send(s, "POST", "/slots", {
        "startTime": f"{day}T10:00:00+08:00",
        "endTime": f"{day}T10:30:00+08:00", "capacity": 1}))
    assert status == 201, full
    assert send(s, "POST", "/appointments", {"slotId": full["id"]})[0] == 201
    for method, path, doc, status, code in (
            ("GET", "/slots/99999999", None, 404, "slot-not-found"),
            ("GET", "/slots?date=2026-02-30", None, 400, "invalid-date"),
            ("GET", "/nowhere", None, 404, "not-found"),
            ("POST", "/healthz", None, 405, "method-not-allowed"),
            ("POST", "/appointments", {"slotId": full["id"]}, 409,
             "slot-full"),
            ("POST", "/holds", {"slotId": 99999999}, 404,
             "slot-not-found"),
            ("PATCH", f"/slots/{full['id']}", {"capacity": 0}, 400,
             "invalid-field"),
            ("GET", "/appointments/99999999", None, 404, "not-found")):
        want = problem(send(s, method, path, doc), status, code)
        got = problem(send(s, method, path, doc, MSGPACK), status, code)
        same(got, want)
    for path in ("/healthz", "/readyz"):
        _, _, want = as_json(send(s, "GET", path))
        _, _, got = as_json(send(s, "GET", path, None, MSGPACK))
        same(got, want)
